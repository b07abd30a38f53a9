//! Errors of loading and saving model files say each layer once: this layer's message in
//! `Display` (naming the file), the cause as `source()`, down to a root cause a caller can
//! inspect (the [`ParseError`] with its line, or the I/O error).

use std::error::Error;
use std::io;
use std::path::{Path, PathBuf};

use aether_model::{Format, Model, ModelError, ParseError};

/// A scratch directory for one test, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("aether-model-chain-{}-{test}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// Writes `text` to `name` in the directory; the file's path.
    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The errors of the chain, outermost first.
fn chain<'e>(err: &'e (dyn Error + 'static)) -> Vec<&'e (dyn Error + 'static)> {
    std::iter::successors(Some(err), |&e| e.source()).collect()
}

/// Each layer's message, outermost first, after checking that every one of them appears
/// exactly once in the chain joined as a report would print it.
fn layers_said_once(err: &ModelError) -> Vec<String> {
    let layers: Vec<String> = chain(err).iter().map(ToString::to_string).collect();
    let joined = layers.join(": ");
    for layer in &layers {
        assert_eq!(
            joined.matches(layer.as_str()).count(),
            1,
            "{layer:?} is said more than once in {joined:?}"
        );
    }
    layers
}

/// The innermost cause of the chain.
fn root(err: &ModelError) -> &(dyn Error + 'static) {
    *chain(err).last().expect("a chain has at least its head")
}

fn load_error(path: &Path) -> ModelError {
    Model::load(path).expect_err("the file is not a loadable model")
}

#[test]
fn a_toml_syntax_error_names_the_file_then_the_line() {
    let scratch = Scratch::new("toml");
    let path = scratch.file(
        "bank.toml",
        "domain = \"Bank\"\n[[contexts]\nname = \"B\"\n",
    );
    let err = load_error(&path);

    let layers = layers_said_once(&err);
    assert_eq!(layers.len(), 2, "{layers:?}");
    assert_eq!(
        layers[0],
        format!("cannot load model file {}", path.display())
    );
    assert!(
        layers[1].starts_with("invalid TOML model at line 2, column "),
        "{layers:?}"
    );
    let cause = root(&err)
        .downcast_ref::<ParseError>()
        .expect("the root cause is the ParseError");
    assert_eq!((cause.format, cause.line), (Format::Toml, 2));
    assert!(matches!(&err, ModelError::Parse { path: p, .. } if *p == path));
}

#[test]
fn a_json_type_error_names_the_file_then_the_line_and_field() {
    let scratch = Scratch::new("json");
    let path = scratch.file(
        "bank.json",
        "{\"domain\": \"Bank\",\n \"contexts\": [{\"name\": 3}]}",
    );
    let err = load_error(&path);

    let layers = layers_said_once(&err);
    assert_eq!(
        layers,
        [
            format!("cannot load model file {}", path.display()),
            "invalid JSON model at line 2, column 24, field `contexts[0].name`: invalid type: \
             integer `3`, expected a string"
                .to_owned(),
        ]
    );
    let cause = root(&err)
        .downcast_ref::<ParseError>()
        .expect("the root cause is the ParseError");
    assert_eq!(
        (cause.format, cause.line, cause.path.as_str()),
        (Format::Json, 2, "contexts[0].name")
    );
}

#[test]
fn a_missing_file_names_the_file_then_the_io_error() {
    let scratch = Scratch::new("missing");
    let path = scratch.0.join("missing.toml");
    let err = load_error(&path);

    let layers = layers_said_once(&err);
    assert_eq!(layers.len(), 2, "{layers:?}");
    assert_eq!(
        layers[0],
        format!("cannot read model file {}", path.display())
    );
    let cause = root(&err)
        .downcast_ref::<io::Error>()
        .expect("the root cause is the io::Error");
    assert_eq!(cause.kind(), io::ErrorKind::NotFound);
    assert_eq!(layers[1], cause.to_string());
}

#[test]
fn a_failed_save_names_the_file_then_the_io_error() {
    let scratch = Scratch::new("save");
    let path = scratch.0.join("no-such-dir").join("bank.toml");
    let err = Model::new("Bank")
        .save(&path)
        .expect_err("the directory does not exist");

    let layers = layers_said_once(&err);
    assert_eq!(
        layers[0],
        format!("cannot write model file {}", path.display())
    );
    let cause = root(&err)
        .downcast_ref::<io::Error>()
        .expect("the root cause is the io::Error");
    assert_eq!(cause.kind(), io::ErrorKind::NotFound);
}

#[test]
fn an_unknown_extension_is_one_layer() {
    let err = load_error(Path::new("bank.yaml"));
    assert_eq!(
        layers_said_once(&err),
        ["cannot tell the format of model file bank.yaml (use .toml or .json)"]
    );
}
