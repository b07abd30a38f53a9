//! The code the derives generate: the `EventNames` and `CommandNames` implementations, the
//! kind enum beside an event enum, and the `DescribeAggregate` implementation.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Ident, LitStr, Meta, Path};

use crate::attrs::Options;
use crate::names::{check_name, serde_names, NamedVariant, Names, Role};

/// `#[derive(EventNames)]`.
pub(crate) fn event_names(input: &DeriveInput) -> syn::Result<TokenStream> {
    refuse_union(input, "EventNames")?;
    let options = Options::from_input(input)?;
    let names = serde_names(input, Role::Event)?;
    let krate = &options.krate;
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let (list, matcher) = names_and_match(&names);
    let names_impl = quote! {
        #[automatically_derived]
        impl #impl_generics #krate::EventNames for #ident #ty_generics #where_clause {
            const EVENT_NAMES: &'static [&'static str] = #list;
            fn event_type(&self) -> &'static str {
                #matcher
            }
        }
    };
    let kind = match (&names, options.kind) {
        (Names::Enum(variants), kind) => {
            let kind = kind.unwrap_or_else(|| format_ident!("{}Kind", ident));
            kind_enum(input, krate, &kind, variants)
        }
        (Names::Struct(_), Some(kind)) => {
            return Err(syn::Error::new(
                kind.span(),
                "`kind` names the kind enum generated beside an event enum; a struct is one \
                 event type and gets no kind enum",
            ))
        }
        (Names::Struct(_), None) => TokenStream::new(),
    };
    Ok(quote! { #names_impl #kind })
}

/// `#[derive(CommandNames)]`.
pub(crate) fn command_names(input: &DeriveInput) -> syn::Result<TokenStream> {
    refuse_union(input, "CommandNames")?;
    let options = Options::from_input(input)?;
    let names = serde_names(input, Role::Command)?;
    let krate = &options.krate;
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let (list, matcher) = names_and_match(&names);
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics #krate::CommandNames for #ident #ty_generics #where_clause {
            const COMMAND_NAMES: &'static [&'static str] = #list;
            fn command_name(&self) -> &'static str {
                #matcher
            }
        }
    })
}

/// `#[derive(DescribeAggregate)]`.
pub(crate) fn describe_aggregate(input: &DeriveInput) -> syn::Result<TokenStream> {
    refuse_union(input, "DescribeAggregate")?;
    let options = Options::from_input(input)?;
    let type_name = checked_type_name(input, &options)?;
    if let Some(key) = options.lone_command_or_event() {
        return Err(syn::Error::new_spanned(
            key,
            "`command` and `event` go together: give both (#[aether(command = .., event = ..)]) \
             or neither, to take both from the type's Aggregate implementation",
        ));
    }
    let krate = &options.krate;
    let ident = &input.ident;
    let mut generics = input.generics.clone();
    let (command, event) = match (&options.command, &options.event) {
        (Some((_, command)), Some((_, event))) => (quote!(#command), quote!(#event)),
        _ => {
            let (_, ty_generics, _) = input.generics.split_for_impl();
            let aggregate = quote!(<#ident #ty_generics as #krate::Aggregate>);
            if !generics.params.is_empty() {
                // A generic type needs the bounds (on the names, not only on `Aggregate`, so
                // the associated types stay normalizable); a non-generic one is checked as
                // it is.
                let predicates = &mut generics.make_where_clause().predicates;
                predicates.push(syn::parse_quote!(#ident #ty_generics: #krate::Aggregate));
                predicates.push(syn::parse_quote!(#aggregate::Command: #krate::CommandNames));
                predicates.push(syn::parse_quote!(#aggregate::Event: #krate::EventNames));
            }
            (quote!(#aggregate::Command), quote!(#aggregate::Event))
        }
    };
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics #krate::DescribeAggregate for #ident #ty_generics #where_clause {
            const TYPE_NAME: &'static str = #type_name;
            fn command_names() -> &'static [&'static str] {
                <#command as #krate::CommandNames>::COMMAND_NAMES
            }
            fn event_names() -> &'static [&'static str] {
                <#event as #krate::EventNames>::EVENT_NAMES
            }
        }
    })
}

/// The `type_name` of `options`, required and checked like event names.
fn checked_type_name<'a>(input: &DeriveInput, options: &'a Options) -> syn::Result<&'a LitStr> {
    let Some(type_name) = &options.type_name else {
        return Err(syn::Error::new_spanned(
            &input.ident,
            "#[derive(DescribeAggregate)] needs the aggregate's type name, written out: add \
             #[aether(type_name = \"...\")]. The type name is stored with every event, so it \
             must not change when the Rust type is renamed",
        ));
    };
    let whose = format!("aggregate `{}`", input.ident);
    check_name("type", &type_name.value(), &whose)
        .map_err(|msg| syn::Error::new_spanned(type_name, msg))?;
    Ok(type_name)
}

/// The error for a union: the derives take structs and enums.
fn refuse_union(input: &DeriveInput, derive: &str) -> syn::Result<()> {
    match &input.data {
        Data::Union(u) => Err(syn::Error::new_spanned(
            u.union_token,
            format!(
                "#[derive({derive})] takes an enum (one name per variant) or a struct (one \
                 name), not a union: serde cannot write a union, so its values could not be \
                 stored"
            ),
        )),
        Data::Struct(_) | Data::Enum(_) => Ok(()),
    }
}

/// The names as a `&[..]` slice expression, and a `match` of `*self` (an expression of type
/// `&'static str`) giving each value's name.
fn names_and_match(names: &Names) -> (TokenStream, TokenStream) {
    match names {
        Names::Struct(name) => (quote!(&[#name]), quote!(#name)),
        Names::Enum(variants) => {
            let idents = variants.iter().map(|v| &v.ident);
            let names: Vec<_> = variants.iter().map(|v| &v.name).collect();
            let list = quote!(&[#(#names),*]);
            let matcher = quote! {
                match *self {
                    #(Self::#idents { .. } => #names,)*
                }
            };
            (list, matcher)
        }
    }
}

/// The kind enum `kind` of the event enum `input`, its `EventKind` implementation and
/// `ALL`, and the event enum's `kind()`.
fn kind_enum(
    input: &DeriveInput,
    krate: &Path,
    kind: &Ident,
    variants: &[NamedVariant],
) -> TokenStream {
    let vis = &input.vis;
    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let idents: Vec<_> = variants.iter().map(|v| &v.ident).collect();
    let names: Vec<_> = variants.iter().map(|v| &v.name).collect();
    let enum_doc = format!(
        "The event types of [`{ident}`] as values, one per variant: what typed filters take. \
         Generated by `#[derive(EventNames)]`."
    );
    let variant_docs = variants
        .iter()
        .map(|v| format!("Events of type `{:?}`: [`{ident}::{}`].", v.name, v.ident));
    let all_doc = format!("Every kind, in the order of `{ident}`'s variants.");
    let kind_doc = format!("The kind of this event: its type as a value of [`{kind}`].");
    let lint_levels = lints_let_pass(&input.attrs);
    quote! {
        #[doc = #enum_doc]
        #(#lint_levels)*
        #[derive(
            ::core::clone::Clone,
            ::core::marker::Copy,
            ::core::fmt::Debug,
            ::core::cmp::PartialEq,
            ::core::cmp::Eq,
            ::core::hash::Hash,
            ::core::cmp::PartialOrd,
            ::core::cmp::Ord,
        )]
        #vis enum #kind {
            #(#[doc = #variant_docs] #idents,)*
        }

        #[automatically_derived]
        impl #krate::EventKind for #kind {
            fn event_type(self) -> &'static str {
                match self {
                    #(Self::#idents => #names,)*
                }
            }
        }

        impl #kind {
            #[doc = #all_doc]
            #vis const ALL: &'static [Self] = &[#(Self::#idents),*];
        }

        impl #impl_generics #ident #ty_generics #where_clause {
            #[doc = #kind_doc]
            #vis fn kind(&self) -> #kind {
                match *self {
                    #(Self::#idents { .. } => #kind::#idents,)*
                }
            }
        }
    }
}

/// The lints the event enum lets pass (its `allow` and `expect` attributes), as `allow`
/// attributes for its kind enum: the kind enum repeats the variant names, so a lint the
/// user let pass on them (say `clippy::enum_variant_names`) would fire again on the twin.
/// An `expect` becomes an `allow` there, since a lint about fields has nothing to fire on.
fn lints_let_pass(attrs: &[Attribute]) -> Vec<TokenStream> {
    attrs
        .iter()
        .filter_map(|attr| match &attr.meta {
            Meta::List(list) if list.path.is_ident("allow") || list.path.is_ident("expect") => {
                let level = Ident::new("allow", list.path.span());
                let lints = &list.tokens;
                Some(quote!(#[#level(#lints)]))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn error(result: syn::Result<TokenStream>) -> String {
        match result {
            Err(e) => e
                .into_iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n"),
            Ok(tokens) => panic!("expected an error, got {tokens}"),
        }
    }

    /// `tokens` as text with the spaces `quote` puts between tokens taken out.
    fn squeezed(tokens: &TokenStream) -> String {
        tokens.to_string().replace(' ', "")
    }

    #[test]
    fn an_event_enum_gets_names_a_kind_enum_and_kind() {
        let input = parse_quote! {
            #[aether(crate = "my::aether")]
            pub(crate) enum Ev<T> { #[serde(rename = "a")] A(T), B { x: u8 } }
        };
        let out = squeezed(&event_names(&input).unwrap());
        assert!(
            out.contains("impl<T>my::aether::EventNamesforEv<T>"),
            "{out}"
        );
        assert!(
            out.contains(r#"constEVENT_NAMES:&'static[&'staticstr]=&["a","B"]"#),
            "{out}"
        );
        assert!(out.contains(r#"Self::A{..}=>"a""#), "{out}");
        assert!(out.contains("pub(crate)enumEvKind{"), "{out}");
        assert!(out.contains("implmy::aether::EventKindforEvKind"), "{out}");
        assert!(
            out.contains("pub(crate)constALL:&'static[Self]=&[Self::A,Self::B]"),
            "{out}"
        );
        assert!(out.contains("pub(crate)fnkind(&self)->EvKind"), "{out}");
    }

    #[test]
    fn the_kind_enum_lets_pass_the_lints_its_enum_lets_pass() {
        let input = parse_quote! {
            #[expect(clippy::enum_variant_names, reason = "domain words")]
            #[deny(missing_docs)]
            enum Ev { EvA, EvB }
        };
        let out = squeezed(&event_names(&input).unwrap());
        let twin = r#"#[allow(clippy::enum_variant_names,reason="domainwords")]#[derive("#;
        assert!(out.contains(twin), "{out}");
        assert!(!out.contains("deny"), "{out}");
    }

    #[test]
    fn the_kind_enum_can_be_renamed_but_a_struct_has_none() {
        let input = parse_quote! { #[aether(kind = "What")] enum Ev { A } };
        assert!(squeezed(&event_names(&input).unwrap()).contains("enumWhat{"));
        let input = parse_quote! { #[aether(kind = "What")] struct Ev; };
        assert!(error(event_names(&input)).contains("a struct is one event type"));
        let out = squeezed(&event_names(&parse_quote! { struct Ev; }).unwrap());
        assert!(!out.contains("enum"), "{out}");
    }

    #[test]
    fn commands_get_names_only() {
        let out = squeezed(&command_names(&parse_quote! { enum Cmd { Open } }).unwrap());
        assert!(out.contains(r#"::aether::CommandNamesforCmd"#), "{out}");
        assert!(
            out.contains(
                r#"fncommand_name(&self)->&'staticstr{match*self{Self::Open{..}=>"Open",}}"#
            ),
            "{out}"
        );
        assert!(!out.contains("enum"), "{out}");
    }

    #[test]
    fn a_union_is_refused_by_every_derive() {
        let input: DeriveInput = parse_quote! { union U { a: u8 } };
        assert!(error(event_names(&input)).contains("not a union"));
        assert!(error(command_names(&input)).contains("#[derive(CommandNames)]"));
        assert!(error(describe_aggregate(&input)).contains("#[derive(DescribeAggregate)]"));
    }

    #[test]
    fn describe_takes_the_types_from_the_aggregate_or_the_attribute() {
        let input = parse_quote! { #[aether(type_name = "Account")] struct Account; };
        let out = squeezed(&describe_aggregate(&input).unwrap());
        assert!(
            out.contains(r#"constTYPE_NAME:&'staticstr="Account""#),
            "{out}"
        );
        assert!(
            out.contains(
                "<<Accountas::aether::Aggregate>::Commandas::aether::CommandNames>::COMMAND_NAMES"
            ),
            "{out}"
        );
        assert!(!out.contains("where"), "{out}");
        let input = parse_quote! {
            #[aether(type_name = "Account", event = Ev, command = Cmd)]
            struct Account<S: Clone>(S);
        };
        let out = squeezed(&describe_aggregate(&input).unwrap());
        assert!(
            out.contains("<Evas::aether::EventNames>::EVENT_NAMES"),
            "{out}"
        );
        assert!(!out.contains("where"), "{out}");
    }

    #[test]
    fn a_generic_aggregate_is_bound_to_be_an_aggregate() {
        let input = parse_quote! {
            #[aether(type_name = "Account")]
            struct Account<S> where S: Clone { s: S }
        };
        let out = squeezed(&describe_aggregate(&input).unwrap());
        assert!(
            out.contains("whereS:Clone,Account<S>:::aether::Aggregate"),
            "{out}"
        );
    }

    #[test]
    fn describe_needs_a_usable_type_name_and_both_types_or_neither() {
        let missing = error(describe_aggregate(&parse_quote! { struct A; }));
        assert!(
            missing.contains("must not change when the Rust type is renamed"),
            "{missing}"
        );
        let empty = parse_quote! { #[aether(type_name = "")] struct A; };
        assert!(error(describe_aggregate(&empty)).contains("type name of aggregate `A` is empty"));
        let alone = parse_quote! { #[aether(type_name = "A", event = E)] struct A; };
        assert!(error(describe_aggregate(&alone)).contains("`command` and `event` go together"));
    }
}
