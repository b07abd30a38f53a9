//! The `#[aether(..)]` attribute on the deriving type: one attribute for every Aether
//! derive, each derive using the keys that concern it.
//!
//! | key | used by | value |
//! |-----|---------|-------|
//! | `crate = "path"` | all | the path of the `aether` crate (default `::aether`) |
//! | `kind = "Name"` | `EventNames` on an enum | the name of the kind enum (default `<Enum>Kind`) |
//! | `type_name = "Name"` | `DescribeAggregate` | the aggregate's stored type name (required) |
//! | `command = Type`, `event = Type` | `DescribeAggregate` | the command and event types, both or neither |

use quote::ToTokens;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Data, DeriveInput, Ident, LitStr, Path, Type};

use crate::errors::Errors;

/// The keys `#[aether(..)]` knows, for the unknown-key error.
const KEYS: &str = "`crate`, `kind`, `type_name`, `command`, `event`";

/// What `#[aether(..)]` says about the deriving type.
pub(crate) struct Options {
    /// The path the generated code names the traits through.
    pub(crate) krate: Path,
    /// Whether `crate = ..` was given (a second one is an error).
    krate_given: bool,
    /// `kind = "Name"`: the kind enum's name, spanned at the literal.
    pub(crate) kind: Option<Ident>,
    /// `type_name = "Name"`.
    pub(crate) type_name: Option<LitStr>,
    /// `command = Type`, with the key (for spanning an error at it).
    pub(crate) command: Option<(Ident, Type)>,
    /// `event = Type`, with the key.
    pub(crate) event: Option<(Ident, Type)>,
}

impl Options {
    /// The options of `input`: its `#[aether(..)]` attributes read, and `#[aether]` on a
    /// variant or a field refused (it belongs on the type).
    ///
    /// # Errors
    /// Every unknown key, key given twice, unreadable value or misplaced attribute.
    pub(crate) fn from_input(input: &DeriveInput) -> syn::Result<Options> {
        let mut options = Options {
            krate: syn::parse_quote!(::aether),
            krate_given: false,
            kind: None,
            type_name: None,
            command: None,
            event: None,
        };
        let mut errors = Errors::default();
        for attr in input.attrs.iter().filter(|a| a.path().is_ident("aether")) {
            let parsed = attr.parse_nested_meta(|meta| options.read(&meta));
            errors.take(parsed);
        }
        for attr in inner_attributes(&input.data) {
            if attr.path().is_ident("aether") {
                errors.push(syn::Error::new_spanned(
                    attr,
                    "#[aether(..)] goes on the type, not on a variant or a field; a variant's \
                     stored name is its serde name (#[serde(rename = \"..\")])",
                ));
            }
        }
        errors.finish().map(|()| options)
    }

    /// Reads one `key = value` of the attribute.
    fn read(&mut self, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
        let Some(key) = meta.path.get_ident().cloned() else {
            return Err(meta.error(format!("unknown #[aether] key; expected one of {KEYS}")));
        };
        let twice_msg = format!("`{key}` is given twice");
        let twice = || meta.error(&twice_msg);
        match key.to_string().as_str() {
            "crate" => {
                if std::mem::replace(&mut self.krate_given, true) {
                    return Err(twice());
                }
                let lit: LitStr = meta.value()?.parse()?;
                self.krate = lit.parse().map_err(|_| {
                    syn::Error::new_spanned(&lit, "`crate` must be a path, like \"::aether\"")
                })?;
            }
            "kind" => {
                let lit: LitStr = meta.value()?.parse()?;
                let mut ident = lit.parse::<Ident>().map_err(|_| {
                    syn::Error::new_spanned(&lit, "`kind` must be a type name, like \"EventKind\"")
                })?;
                ident.set_span(lit.span());
                set(&mut self.kind, ident).map_err(|()| twice())?;
            }
            "type_name" => {
                let lit: LitStr = meta.value()?.parse()?;
                set(&mut self.type_name, lit).map_err(|()| twice())?;
            }
            "command" => {
                let ty: Type = meta.value()?.parse()?;
                set(&mut self.command, (key, ty)).map_err(|()| twice())?;
            }
            "event" => {
                let ty: Type = meta.value()?.parse()?;
                set(&mut self.event, (key, ty)).map_err(|()| twice())?;
            }
            other => {
                return Err(meta.error(format!(
                    "unknown #[aether] key `{other}`; expected one of {KEYS}"
                )))
            }
        }
        Ok(())
    }

    /// The span-carrying tokens of the `command` or `event` key given alone, if one is.
    pub(crate) fn lone_command_or_event(&self) -> Option<proc_macro2::TokenStream> {
        match (&self.command, &self.event) {
            (Some((key, _)), None) | (None, Some((key, _))) => Some(key.to_token_stream()),
            _ => None,
        }
    }
}

/// Sets `slot` to `value`, or `Err` when it was set already.
fn set<T>(slot: &mut Option<T>, value: T) -> Result<(), ()> {
    match slot {
        Some(_) => Err(()),
        None => {
            *slot = Some(value);
            Ok(())
        }
    }
}

/// The attributes of `data`'s variants and fields.
fn inner_attributes(data: &Data) -> Vec<&Attribute> {
    let mut out = Vec::new();
    let fields: Vec<&syn::Fields> = match data {
        Data::Struct(s) => vec![&s.fields],
        Data::Enum(e) => {
            for v in &e.variants {
                out.extend(&v.attrs);
            }
            e.variants.iter().map(|v| &v.fields).collect()
        }
        Data::Union(u) => {
            for f in &u.fields.named {
                out.extend(&f.attrs);
            }
            Vec::new()
        }
    };
    for f in fields.into_iter().flatten() {
        out.extend(&f.attrs);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn error(input: DeriveInput) -> String {
        match Options::from_input(&input) {
            Err(e) => e
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            Ok(_) => panic!("expected an error"),
        }
    }

    #[test]
    fn keys_are_read() {
        let input: DeriveInput = parse_quote! {
            #[aether(crate = "my::aether", kind = "Kinds")]
            #[aether(type_name = "Account", command = Cmd<u8>, event = Ev)]
            struct A;
        };
        let o = Options::from_input(&input).unwrap();
        assert_eq!(o.krate.to_token_stream().to_string(), "my :: aether");
        assert_eq!(o.kind.unwrap().to_string(), "Kinds");
        assert_eq!(o.type_name.unwrap().value(), "Account");
        assert_eq!(
            o.command.unwrap().1.to_token_stream().to_string(),
            "Cmd < u8 >"
        );
        assert!(o.event.is_some());
    }

    #[test]
    fn the_default_crate_is_aether() {
        let o = Options::from_input(&parse_quote! { enum E {} }).unwrap();
        assert_eq!(o.krate.to_token_stream().to_string(), ":: aether");
        assert!(o.kind.is_none() && o.type_name.is_none() && o.lone_command_or_event().is_none());
    }

    #[test]
    fn every_problem_is_reported() {
        let msg = error(parse_quote! {
            #[aether(typename = "A")]
            #[aether(kind = "A", kind = "B")]
            #[aether(kind = "not an ident")]
            enum E { #[aether(kind = "X")] A }
        });
        assert!(msg.contains("unknown #[aether] key `typename`"), "{msg}");
        assert!(msg.contains("`kind` is given twice"), "{msg}");
        assert!(msg.contains("`kind` must be a type name"), "{msg}");
        assert!(msg.contains("goes on the type, not on a variant"), "{msg}");
    }

    #[test]
    fn command_alone_is_noticed() {
        let input: DeriveInput = parse_quote! { #[aether(command = C)] struct A; };
        let o = Options::from_input(&input).unwrap();
        assert_eq!(o.lone_command_or_event().unwrap().to_string(), "command");
    }
}
