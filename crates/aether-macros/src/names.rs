//! The names a type's values are stored under: the serde names of an enum's variants (or of a
//! struct), read with serde's own attribute parser so they follow `rename`,
//! `rename(serialize = ..)` and `rename_all` exactly as serde does, then checked against
//! Aether's rules for stored names.

use proc_macro2::TokenTree;
use quote::ToTokens;
use serde_derive_internals::{ast, Ctxt, Derive};
use syn::{Attribute, DeriveInput, Ident, Meta};

use crate::errors::Errors;

/// The longest stored name, in bytes: `aether_core::MAX_EVENT_TYPE_LEN`, which
/// `aether_core::names::check_names` applies to event and command names alike.
pub(crate) const MAX_NAME_LEN: usize = 256;

/// What the names are of, for the error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Event types (`EventNames`).
    Event,
    /// Commands (`CommandNames`).
    Command,
}

impl Role {
    /// "event" or "command".
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Role::Event => "event",
            Role::Command => "command",
        }
    }

    /// What a value that serde cannot write could never be.
    fn never(self) -> &'static str {
        match self {
            Role::Event => "an event of it could never be stored",
            Role::Command => "a command of it could never be sent",
        }
    }

    /// What a value that serde cannot read could never be.
    fn never_read(self) -> &'static str {
        match self {
            Role::Event => "an event of it could be stored but never read back",
            Role::Command => "a command of it could be sent but never received",
        }
    }
}

/// One enum variant and its name.
#[derive(Debug)]
pub(crate) struct NamedVariant {
    /// The variant's identifier, as written.
    pub(crate) ident: Ident,
    /// Its serde name (after renames).
    pub(crate) name: String,
}

/// The names of a type's values.
#[derive(Debug)]
pub(crate) enum Names {
    /// An enum: one name per variant, in declaration order.
    Enum(Vec<NamedVariant>),
    /// A struct: its one (container) name.
    Struct(String),
}

/// The serde names of `input`'s values (it must be a struct or an enum), checked: every
/// variant can be serialized and deserialized, and every name is non-empty, at most
/// [`MAX_NAME_LEN`] bytes, free of control characters and unique.
///
/// # Errors
/// Serde's own errors about its attributes, or every name problem found, each spanned at
/// the variant (or the `#[serde(..)]` attribute) concerned.
pub(crate) fn serde_names(input: &DeriveInput, role: Role) -> syn::Result<Names> {
    let cx = Ctxt::new();
    let container = ast::Container::from_ast(&cx, input, Derive::Serialize);
    cx.check()?;
    let Some(container) = container else {
        // The parser gives up (with an error, checked above) on unions only.
        return Err(syn::Error::new_spanned(
            input,
            "expected a struct or an enum",
        ));
    };
    match &container.data {
        ast::Data::Enum(variants) => variant_names(variants, role).map(Names::Enum),
        ast::Data::Struct(..) => {
            let name = container.attrs.name().serialize_name().to_owned();
            let attr = serde_attr_with(&input.attrs, &["rename"]);
            let place = attr.map_or_else(
                || input.ident.to_token_stream(),
                ToTokens::into_token_stream,
            );
            check_name(role.noun(), &name, &format!("struct `{}`", input.ident))
                .map_err(|msg| syn::Error::new_spanned(place, msg))?;
            Ok(Names::Struct(name))
        }
    }
}

/// The names of `variants`, or every problem with them.
fn variant_names(variants: &[ast::Variant<'_>], role: Role) -> syn::Result<Vec<NamedVariant>> {
    let mut errors = Errors::default();
    let mut named: Vec<NamedVariant> = Vec::with_capacity(variants.len());
    for variant in variants {
        let ident = &variant.ident;
        let attrs = &variant.original.attrs;
        if let Some(problem) = skip_problem(variant, role) {
            let place = serde_attr_with(attrs, &["skip", "skip_serializing", "skip_deserializing"]);
            errors.push(spanned(place, ident, problem));
            continue;
        }
        let name = variant.attrs.name().serialize_name().to_owned();
        let place = serde_attr_with(attrs, &["rename"]);
        let read_back = variant.attrs.name().deserialize_name() == name
            || variant.attrs.aliases().contains(&name);
        if let Err(msg) = check_name(role.noun(), &name, &format!("variant `{ident}`")) {
            errors.push(spanned(place, ident, msg));
        } else if role == Role::Event && !read_back {
            let msg = format!(
                "variant `{ident}` is stored under the serde name {name:?} but read back under                  {:?}: a stored event could never be decoded again (give it one name, or add                  #[serde(alias = {name:?})])",
                variant.attrs.name().deserialize_name()
            );
            errors.push(spanned(place, ident, msg));
        } else if let Some(first) = named.iter().find(|n| n.name == name) {
            let msg = format!(
                "variants `{}` and `{ident}` both have the serde name {name:?}: each {} needs a \
                 name of its own (see their #[serde(rename)] and the enum's \
                 #[serde(rename_all)])",
                first.ident,
                role.noun(),
            );
            errors.push(spanned(place, ident, msg));
        }
        named.push(NamedVariant {
            ident: ident.clone(),
            name,
        });
    }
    errors.finish().map(|()| named)
}

/// Why serde's skipping of `variant` makes it unusable, if it skips it.
fn skip_problem(variant: &ast::Variant<'_>, role: Role) -> Option<String> {
    let ident = &variant.ident;
    if variant.attrs.skip_serializing() {
        Some(format!(
            "serde skips variant `{ident}` when serializing, so {}: remove the skip, or the \
             variant",
            role.never()
        ))
    } else if variant.attrs.skip_deserializing() {
        Some(format!(
            "serde skips variant `{ident}` when deserializing, so {}: remove the skip, or the \
             variant",
            role.never_read()
        ))
    } else {
        None
    }
}

/// An error at `attr` if given, else at `ident`.
fn spanned(attr: Option<&Attribute>, ident: &Ident, msg: String) -> syn::Error {
    match attr {
        Some(attr) => syn::Error::new_spanned(attr, msg),
        None => syn::Error::new_spanned(ident, msg),
    }
}

/// The first `#[serde(..)]` attribute that names one of `keys` at its top level (the
/// attribute that set a name or a skip), for spanning an error at it.
pub(crate) fn serde_attr_with<'a>(attrs: &'a [Attribute], keys: &[&str]) -> Option<&'a Attribute> {
    attrs.iter().find(|attr| {
        let Meta::List(list) = &attr.meta else {
            return false;
        };
        list.path.is_ident("serde")
            && list.tokens.clone().into_iter().any(|tt| match tt {
                TokenTree::Ident(i) => keys.iter().any(|k| i == k),
                _ => false,
            })
    })
}

/// Whether `name` can be stored, as `aether_core::names::check_names` decides: non-empty,
/// at most [`MAX_NAME_LEN`] bytes, no control characters. `noun` says what it names
/// ("event") and `whose` where it comes from ("variant `Opened`").
///
/// # Errors
/// A sentence saying what is wrong.
pub(crate) fn check_name(noun: &str, name: &str, whose: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!(
            "the {noun} name of {whose} is empty: a stored name cannot be empty"
        ));
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "the {noun} name of {whose} is {} bytes long: Aether stores names of at most \
             {MAX_NAME_LEN} bytes",
            name.len()
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(format!(
            "the {noun} name of {whose}, {name:?}, contains control characters, which Aether \
             does not store"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn the_longest_name_is_the_cores() {
        assert_eq!(MAX_NAME_LEN, aether_core::MAX_EVENT_TYPE_LEN);
    }

    fn enum_names(input: DeriveInput) -> Vec<String> {
        names_of(input, Role::Event)
    }

    fn names_of(input: DeriveInput, role: Role) -> Vec<String> {
        match serde_names(&input, role) {
            Ok(Names::Enum(v)) => v.into_iter().map(|n| n.name).collect(),
            other => panic!("expected enum names, got {other:?}"),
        }
    }

    fn error(input: DeriveInput) -> String {
        match serde_names(&input, Role::Event) {
            Err(e) => e
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            Ok(names) => panic!("expected an error, got {names:?}"),
        }
    }

    #[test]
    fn variants_keep_their_identifiers_without_attributes() {
        let input =
            parse_quote! { enum E { Opened, Deposited(u64), Moved { to: String }, r#type } };
        assert_eq!(enum_names(input), ["Opened", "Deposited", "Moved", "type"]);
    }

    #[test]
    fn rename_all_follows_each_of_serdes_eight_cases() {
        let cases = [
            ("lowercase", "moneydeposited"),
            ("UPPERCASE", "MONEYDEPOSITED"),
            ("PascalCase", "MoneyDeposited"),
            ("camelCase", "moneyDeposited"),
            ("snake_case", "money_deposited"),
            ("SCREAMING_SNAKE_CASE", "MONEY_DEPOSITED"),
            ("kebab-case", "money-deposited"),
            ("SCREAMING-KEBAB-CASE", "MONEY-DEPOSITED"),
        ];
        for (rule, expected) in cases {
            let input = parse_quote! {
                #[serde(rename_all = #rule)]
                enum E { MoneyDeposited(u64) }
            };
            assert_eq!(enum_names(input), [expected], "rename_all = {rule:?}");
        }
    }

    #[test]
    fn rename_wins_over_rename_all_and_serialize_names_are_used() {
        let input = parse_quote! {
            #[serde(rename_all = "snake_case")]
            enum E {
                AccountOpened,
                #[serde(rename = "money.deposited")]
                MoneyDeposited(u64),
                #[serde(rename(serialize = "closed_v2", deserialize = "closed"))]
                Closed,
                #[serde(alias = "old")]
                Reopened,
            }
        };
        assert_eq!(
            names_of(input, Role::Command),
            ["account_opened", "money.deposited", "closed_v2", "reopened"]
        );
    }

    #[test]
    fn an_event_must_be_read_back_under_the_name_it_is_stored_under() {
        let split = parse_quote! {
            enum E {
                #[serde(rename(serialize = "closed_v2", deserialize = "closed"))]
                Closed,
            }
        };
        let e = error(split);
        assert!(
            e.contains("never be decoded again") && e.contains("closed_v2"),
            "{e}"
        );
        let aliased = parse_quote! {
            enum E {
                #[serde(rename(serialize = "closed_v2", deserialize = "closed"), alias = "closed_v2")]
                Closed,
            }
        };
        assert_eq!(enum_names(aliased), ["closed_v2"]);
    }

    #[test]
    fn rename_all_serialize_only_applies_to_serialization() {
        let input = parse_quote! {
            #[serde(rename_all(serialize = "kebab-case", deserialize = "snake_case"))]
            enum E { AccountOpened }
        };
        assert_eq!(names_of(input, Role::Command), ["account-opened"]);
    }

    #[test]
    fn a_struct_is_named_after_itself_or_its_rename() {
        let plain: DeriveInput = parse_quote! { struct Deposit { amount: u64 } };
        let renamed: DeriveInput =
            parse_quote! { #[serde(rename = "deposit")] struct Deposit(u64); };
        for (input, expected) in [(plain, "Deposit"), (renamed, "deposit")] {
            match serde_names(&input, Role::Command) {
                Ok(Names::Struct(name)) => assert_eq!(name, expected),
                other => panic!("expected a struct name, got {other:?}"),
            }
        }
    }

    #[test]
    fn an_empty_enum_has_no_names() {
        assert!(enum_names(parse_quote! { enum E {} }).is_empty());
    }

    #[test]
    fn two_variants_with_one_name_are_named_together() {
        let msg = error(parse_quote! {
            enum E { Opened, #[serde(rename = "Opened")] Reopened }
        });
        assert!(msg.contains("`Opened` and `Reopened` both"), "{msg}");
        let msg = error(parse_quote! {
            #[serde(rename_all = "lowercase")]
            enum E { AB, Ab }
        });
        assert!(msg.contains("both have the serde name \"ab\""), "{msg}");
    }

    #[test]
    fn skipped_variants_are_refused_either_way() {
        for attr in ["skip", "skip_serializing"] {
            let attr: Ident = Ident::new(attr, proc_macro2::Span::call_site());
            let msg = error(parse_quote! { enum E { A, #[serde(#attr)] B } });
            assert!(
                msg.contains("when serializing") && msg.contains("never be stored"),
                "{msg}"
            );
        }
        let msg = error(parse_quote! { enum E { A, #[serde(skip_deserializing)] B } });
        assert!(msg.contains("never read back"), "{msg}");
    }

    #[test]
    fn bad_names_are_refused_and_every_problem_is_reported() {
        let long = "x".repeat(MAX_NAME_LEN + 1);
        let msg = error(parse_quote! {
            enum E {
                #[serde(rename = "")] A,
                #[serde(rename = #long)] B,
                #[serde(rename = "a\nb")] C,
            }
        });
        assert!(msg.contains("variant `A` is empty"), "{msg}");
        assert!(msg.contains("is 257 bytes long"), "{msg}");
        assert!(msg.contains("contains control characters"), "{msg}");
        let fits = "x".repeat(MAX_NAME_LEN);
        assert_eq!(
            enum_names(parse_quote! { enum E { #[serde(rename = #fits)] A } }),
            [fits]
        );
    }

    #[test]
    fn serdes_own_attribute_errors_come_through() {
        let msg = error(parse_quote! { #[serde(rename_all = "Title Case")] enum E { A } });
        assert!(msg.contains("Title Case"), "{msg}");
    }

    #[test]
    fn check_name_says_whose_name_is_wrong() {
        let msg = check_name("command", "", "struct `Deposit`").unwrap_err();
        assert!(
            msg.starts_with("the command name of struct `Deposit` is empty"),
            "{msg}"
        );
        assert!(check_name("event", "Opened", "variant `Opened`").is_ok());
    }
}
