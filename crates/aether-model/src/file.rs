//! Loading and saving models as TOML or JSON, with errors that say where.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::Model;

/// A model file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// TOML, the format meant for people (`.toml`).
    Toml,
    /// JSON, for tools (`.json`).
    Json,
}

impl Format {
    /// The format a path's extension names (`.toml` or `.json`, any case).
    ///
    /// ```
    /// use aether_model::Format;
    /// assert_eq!(Format::from_path("docs/model/bank.toml"), Some(Format::Toml));
    /// assert_eq!(Format::from_path("bank.yaml"), None);
    /// ```
    pub fn from_path(path: impl AsRef<Path>) -> Option<Format> {
        let ext = path.as_ref().extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Toml => "TOML",
            Format::Json => "JSON",
        })
    }
}

/// A model file that could not be read as a model: where, and why.
///
/// It is the root of its error chain: the parser's own error is read into these fields
/// (its message without the position it also carries), so the position and the message
/// are said once.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParseError {
    /// The file's format.
    pub format: Format,
    /// The line of the problem, from 1 (0 when the parser could not tell).
    pub line: usize,
    /// The column of the problem, from 1 (0 when the parser could not tell).
    pub column: usize,
    /// The field path of the problem, as in the model (for instance
    /// `contexts[0].policies[1].when`); empty at the top level.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid {} model", self.format)?;
        if self.line > 0 {
            write!(f, " at line {}, column {}", self.line, self.column)?;
        }
        if !self.path.is_empty() {
            write!(f, ", field `{}`", self.path)?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for ParseError {}

/// The errors of loading and saving models.
///
/// `Display` says what failed at this layer (naming the file); the cause, such as the
/// [`ParseError`] with line, column and field, or the I/O error, is the
/// [`source`](std::error::Error::source). Print the whole chain to show both:
///
/// ```
/// use std::error::Error as _;
///
/// let path = std::env::temp_dir().join(format!("aether-model-doc-{}.toml", std::process::id()));
/// std::fs::write(&path, "domain = 3\n").unwrap();
/// let err = aether_model::Model::load(&path).unwrap_err();
/// std::fs::remove_file(&path).unwrap();
///
/// assert!(err.to_string().starts_with("cannot load model file "));
/// let cause = err.source().unwrap().to_string();
/// assert!(cause.starts_with("invalid TOML model at line 1, column 10, field `domain`"), "{cause}");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// A model file's text is not a model (bad syntax, an unknown or missing field, a wrong
    /// type); the source says where.
    #[error("cannot load model file {path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where in the file.
        #[source]
        source: ParseError,
    },
    /// A file could not be read or written.
    #[error("cannot {action} model file {path}")]
    Io {
        /// `"read"` or `"write"`.
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file's extension names no model format.
    #[error("cannot tell the format of model file {0} (use .toml or .json)")]
    UnknownFormat(PathBuf),
    /// The model could not be written in the format (for instance a string TOML cannot
    /// hold).
    #[error("cannot write the model as {format}")]
    Serialize {
        /// The format.
        format: Format,
        /// The serializer's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Turns a serde path into the model's path syntax (`contexts[0].name`).
fn path_string(path: &serde_path_to_error::Path) -> String {
    let s = path.to_string();
    if s == "." || s == "?" {
        String::new()
    } else {
        s
    }
}

/// The 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut start = offset;
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

impl Model {
    /// Reads a model from TOML.
    ///
    /// ```
    /// let model = aether_model::Model::from_toml_str(r#"
    /// domain = "Bank"
    ///
    /// [[contexts]]
    /// name = "Banking"
    /// "#).unwrap();
    /// assert_eq!(model.contexts[0].name, "Banking");
    ///
    /// let err = aether_model::Model::from_toml_str("domain = \"Bank\"\n[[contexts]]\nnaem = \"x\"\n").unwrap_err();
    /// assert_eq!((err.line, err.path.as_str()), (3, "contexts[0].naem"));
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Model, ParseError> {
        let de = toml::Deserializer::new(text);
        serde_path_to_error::deserialize(de).map_err(|err| {
            let path = path_string(err.path());
            let inner = err.into_inner();
            let (line, column) = inner.span().map_or((0, 0), |s| line_column(text, s.start));
            ParseError {
                format: Format::Toml,
                line,
                column,
                path,
                message: inner
                    .message()
                    .trim()
                    .lines()
                    .collect::<Vec<_>>()
                    .join("; "),
            }
        })
    }

    /// Reads a model from JSON.
    ///
    /// ```
    /// let err = aether_model::Model::from_json_str("{\"domain\": \"Bank\",\n \"contexts\": [{\"name\": 3}]}").unwrap_err();
    /// assert_eq!(err.line, 2);
    /// assert_eq!(err.path, "contexts[0].name");
    /// ```
    pub fn from_json_str(text: &str) -> Result<Model, ParseError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let result: Result<Model, _> = serde_path_to_error::deserialize(&mut de);
        let model = result.map_err(|err| {
            let path = path_string(err.path());
            json_error(path, err.into_inner())
        })?;
        de.end().map_err(|err| json_error(String::new(), err))?;
        Ok(model)
    }

    /// Reads a model from text in the given format.
    pub fn from_str_as(text: &str, format: Format) -> Result<Model, ParseError> {
        match format {
            Format::Toml => Model::from_toml_str(text),
            Format::Json => Model::from_json_str(text),
        }
    }

    /// Writes the model as TOML.
    pub fn to_toml_string(&self) -> Result<String, ModelError> {
        toml::to_string(self).map_err(|e| ModelError::Serialize {
            format: Format::Toml,
            source: Box::new(e),
        })
    }

    /// Writes the model as pretty-printed JSON.
    pub fn to_json_string(&self) -> Result<String, ModelError> {
        serde_json::to_string_pretty(self).map_err(|e| ModelError::Serialize {
            format: Format::Json,
            source: Box::new(e),
        })
    }

    /// Writes the model in the given format.
    pub fn to_string_as(&self, format: Format) -> Result<String, ModelError> {
        match format {
            Format::Toml => self.to_toml_string(),
            Format::Json => self.to_json_string(),
        }
    }

    /// Loads a model file; the extension (`.toml` or `.json`) picks the format.
    ///
    /// ```no_run
    /// let model = aether_model::Model::load("docs/model/bank.toml")?;
    /// for finding in model.validate() {
    ///     println!("{finding}");
    /// }
    /// # Ok::<(), aether_model::ModelError>(())
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<Model, ModelError> {
        let path = path.as_ref();
        let format =
            Format::from_path(path).ok_or_else(|| ModelError::UnknownFormat(path.to_owned()))?;
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        })?;
        Model::from_str_as(&text, format).map_err(|source| ModelError::Parse {
            path: path.to_owned(),
            source,
        })
    }

    /// Saves the model to a file; the extension (`.toml` or `.json`) picks the format.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ModelError> {
        let path = path.as_ref();
        let format =
            Format::from_path(path).ok_or_else(|| ModelError::UnknownFormat(path.to_owned()))?;
        let text = self.to_string_as(format)?;
        std::fs::write(path, text).map_err(|source| ModelError::Io {
            action: "write",
            path: path.to_owned(),
            source,
        })
    }
}

fn json_error(path: String, err: serde_json::Error) -> ParseError {
    // serde_json appends " at line L column C" to its message; the fields carry it.
    let full = err.to_string();
    let message = match full.rfind(" at line ") {
        Some(i) if err.line() > 0 => full[..i].to_owned(),
        _ => full,
    };
    ParseError {
        format: Format::Json,
        line: err.line(),
        column: err.column(),
        path,
        message,
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_serialize_error_keeps_the_serializer_error_as_its_source() {
        let cause = <toml::ser::Error as serde::ser::Error>::custom("unsupported value");
        let err = ModelError::Serialize {
            format: Format::Toml,
            source: Box::new(cause),
        };
        assert_eq!(err.to_string(), "cannot write the model as TOML");
        let source = err.source().expect("the serializer's error is the source");
        assert_eq!(source.to_string(), "unsupported value");
        assert!(source.downcast_ref::<toml::ser::Error>().is_some());
    }
}
