//! `#[derive(Crdt)]`: a struct whose fields are all CRDTs becomes one CRDT,
//! field by field. Use it through `rumor_crdt::Crdt` (or `rumor::crdt::Crdt`):
//! the trait and the derive share the name, as serde's do.
//!
//! For `struct Swarm { positions: LwwMap<..>, done: GCounter }` it generates:
//! - `impl Crdt for Swarm`: `join`, `context`, `delta_since`, `is_bottom`,
//!   `includes`, `missing_from`, `latest_timestamp`, `advances_within`,
//!   `authored_only_by` (every field's), `observe_dots`, `last_dot` and
//!   `split`, each field by field;
//! - `SwarmContext`, the struct of the fields' contexts (serde included), the
//!   derived type's `Crdt::Context`;
//! - a delta constructor per field, `update_positions(|m| m.insert(..))`:
//!   it applies a field's delta mutator and returns the delta as a `Swarm`
//!   with every other field at bottom, ready for a gossip node's `update`.
//!
//! Tuple structs are supported (`update_0`, ...); enums, unions and unit
//! structs are refused, as is a field that is not a CRDT (the error points
//! at the field). `#[crdt(crate = "path")]` names the crate that holds the
//! trait when it is reached neither as `rumor_crdt` nor as `rumor::crdt`.
#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as Tokens};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{parse_macro_input, Data, DeriveInput, Fields, Ident, Index, Member, Path, Type};

/// Derives `Crdt` for a struct of CRDTs: see the crate's documentation.
#[proc_macro_derive(Crdt, attributes(crdt))]
pub fn derive_crdt(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// One field: how to reach it, its type, and the name of its delta
/// constructor.
struct Field {
    member: Member,
    ty: Type,
    vis: syn::Visibility,
    update: Ident,
    name: String,
}

fn fields(input: &DeriveInput) -> syn::Result<(Vec<Field>, bool)> {
    let data = match &input.data {
        Data::Struct(data) => data,
        Data::Enum(data) => {
            return Err(syn::Error::new(
                data.enum_token.span(),
                "#[derive(Crdt)] is for structs whose fields are CRDTs, not enums",
            ))
        }
        Data::Union(data) => {
            return Err(syn::Error::new(
                data.union_token.span(),
                "#[derive(Crdt)] is for structs whose fields are CRDTs, not unions",
            ))
        }
    };
    let named = matches!(data.fields, Fields::Named(_));
    let fields: Vec<Field> = data
        .fields
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let (member, name) = match &field.ident {
                Some(ident) => (Member::Named(ident.clone()), ident.to_string()),
                None => (Member::Unnamed(Index::from(i)), i.to_string()),
            };
            let update = format_ident!("update_{}", name.trim_start_matches("r#"));
            Field {
                member,
                ty: field.ty.clone(),
                vis: field.vis.clone(),
                update,
                name,
            }
        })
        .collect();
    if fields.is_empty() {
        return Err(syn::Error::new(
            input.ident.span(),
            "#[derive(Crdt)] needs at least one field, each a CRDT",
        ));
    }
    Ok((fields, named))
}

/// The path of the crate that holds the `Crdt` trait, as the user's crate
/// reaches it.
fn krate(input: &DeriveInput) -> syn::Result<Path> {
    for attr in &input.attrs {
        if !attr.path().is_ident("crdt") {
            continue;
        }
        let mut path = None;
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let value: syn::LitStr = meta.value()?.parse()?;
                path = Some(value.parse::<Path>()?);
                Ok(())
            } else {
                Err(meta.error("unknown #[crdt(..)] setting; expected `crate = \"path\"`"))
            }
        })?;
        if let Some(path) = path {
            return Ok(path);
        }
    }
    use proc_macro_crate::{crate_name, FoundCrate};
    let found = match crate_name("rumor-crdt") {
        // Inside rumor-crdt, which names itself `rumor_crdt` for this.
        Ok(FoundCrate::Itself) => quote!(::rumor_crdt),
        Ok(FoundCrate::Name(name)) => {
            let name = Ident::new(&name, Span::call_site());
            quote!(::#name)
        }
        Err(_) => match crate_name("rumor") {
            Ok(FoundCrate::Name(name)) => {
                let name = Ident::new(&name, Span::call_site());
                quote!(::#name::crdt)
            }
            Ok(FoundCrate::Itself) => quote!(::rumor::crdt),
            // Not found in the manifest (a build outside cargo): the
            // crate's own name.
            Err(_) => quote!(::rumor_crdt),
        },
    };
    syn::parse2(found)
}

/// `tokens`, every one of them at `span`.
fn respan(tokens: Tokens, span: Span) -> Tokens {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let proc_macro2::TokenTree::Group(group) = &tree {
                let mut inner =
                    proc_macro2::Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = proc_macro2::TokenTree::Group(inner);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

#[allow(clippy::too_many_lines)] // one template, read top to bottom
fn expand(input: &DeriveInput) -> syn::Result<Tokens> {
    let (fields, named) = fields(input)?;
    let krate = krate(input)?;
    let name = &input.ident;
    let vis = &input.vis;
    let context = format_ident!("{}Context", name);
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();

    let members: Vec<&Member> = fields.iter().map(|f| &f.member).collect();
    let types: Vec<&Type> = fields.iter().map(|f| &f.ty).collect();

    // Every field must be a CRDT: a bound per field, every token of it
    // spanned at the field's type, so that the error points there.
    let mut bounds: Vec<Tokens> = where_clause
        .map(|w| w.predicates.iter().map(ToTokens::to_token_stream).collect())
        .unwrap_or_default();
    for field in &fields {
        let span = field.ty.span();
        let ty = respan(field.ty.to_token_stream(), span);
        let krate = respan(krate.to_token_stream(), span);
        bounds.push(quote_spanned!(span=> #ty: #krate::Crdt));
    }
    let where_all = quote!(where #(#bounds,)*);

    // The serde bounds of the context, written out (serde would otherwise
    // ask the type parameters for Serialize, not the contexts).
    let serde_path = format!(
        "{}::__private::serde",
        quote!(#krate).to_string().replace(' ', "")
    );
    let ser_bounds: Vec<String> = types
        .iter()
        .map(|ty| {
            format!(
                "<{} as {}::Crdt>::Context: {serde_path}::Serialize",
                quote!(#ty),
                quote!(#krate)
            )
        })
        .collect();
    let de_bounds: Vec<String> = types
        .iter()
        .map(|ty| {
            format!(
                "<{} as {}::Crdt>::Context: {serde_path}::Deserialize<'de>",
                quote!(#ty),
                quote!(#krate)
            )
        })
        .collect();
    let ser_bound = ser_bounds.join(", ");
    let de_bound = de_bounds.join(", ");

    let context_doc =
        format!("The causal context of [`{name}`]: its fields' contexts, field by field.");
    let context_fields = if named {
        let docs = fields
            .iter()
            .map(|f| format!("The context of `{}`.", f.name));
        let idents = members.iter().map(|m| match m {
            Member::Named(ident) => ident,
            Member::Unnamed(_) => unreachable!("named fields"),
        });
        quote! {
            #where_all
            {
                #( #[doc = #docs] pub #idents: <#types as #krate::Crdt>::Context, )*
            }
        }
    } else {
        quote! {
            ( #( pub <#types as #krate::Crdt>::Context, )* ) #where_all;
        }
    };

    let updates = fields.iter().map(|field| {
        let Field {
            member,
            ty,
            vis,
            update,
            name: field_name,
            ..
        } = field;
        let doc = format!(
            "Applies `mutate`, a delta mutator of `{field_name}`, and returns its delta as a \
             [`{name}`] whose other fields are at bottom: the delta to gossip."
        );
        quote! {
            #[doc = #doc]
            #vis fn #update(&mut self, mutate: impl ::core::ops::FnOnce(&mut #ty) -> #ty) -> Self {
                let delta = mutate(&mut self.#member);
                Self { #member: delta, ..::core::default::Default::default() }
            }
        }
    });

    Ok(quote! {
        #[doc = #context_doc]
        #[derive(Clone, PartialEq, Debug, #krate::__private::serde::Serialize, #krate::__private::serde::Deserialize)]
        #[serde(crate = #serde_path, bound(serialize = #ser_bound, deserialize = #de_bound))]
        #vis struct #context #impl_generics #context_fields

        #[automatically_derived]
        impl #impl_generics ::core::default::Default for #context #ty_generics #where_all {
            fn default() -> Self {
                Self { #( #members: ::core::default::Default::default(), )* }
            }
        }

        #[automatically_derived]
        impl #impl_generics #krate::Crdt for #name #ty_generics #where_all {
            type Context = #context #ty_generics;

            fn join(&mut self, other: &Self) {
                #( #krate::Crdt::join(&mut self.#members, &other.#members); )*
            }

            fn context(&self) -> Self::Context {
                #context { #( #members: #krate::Crdt::context(&self.#members), )* }
            }

            fn delta_since(&self, seen: &Self::Context) -> Self {
                Self { #( #members: #krate::Crdt::delta_since(&self.#members, &seen.#members), )* }
            }

            fn is_bottom(&self) -> bool {
                true #( && #krate::Crdt::is_bottom(&self.#members) )*
            }

            fn includes(&self, other: &Self) -> bool {
                true #( && #krate::Crdt::includes(&self.#members, &other.#members) )*
            }

            fn missing_from(&self, other: &Self) -> Self {
                Self { #( #members: #krate::Crdt::missing_from(&self.#members, &other.#members), )* }
            }

            fn latest_timestamp(&self) -> ::core::option::Option<#krate::HlcTimestamp> {
                let mut latest = ::core::option::Option::None;
                #(
                    let field = #krate::Crdt::latest_timestamp(&self.#members);
                    if field > latest {
                        latest = field;
                    }
                )*
                latest
            }

            fn advances_within(&self, known: &Self, bound: #krate::Advance) -> bool {
                true #( && #krate::Crdt::advances_within(&self.#members, &known.#members, bound) )*
            }

            fn observe_dots(&mut self, seen: &#krate::CausalContext) {
                #( #krate::Crdt::observe_dots(&mut self.#members, seen); )*
            }

            fn authored_only_by(&self, author: #krate::ReplicaId) -> bool {
                true #( && #krate::Crdt::authored_only_by(&self.#members, author) )*
            }

            fn last_dot(&self, replica: #krate::ReplicaId) -> u64 {
                let mut last = 0u64;
                #( last = last.max(#krate::Crdt::last_dot(&self.#members, replica)); )*
                last
            }

            fn split(&self, parts: usize) -> #krate::__private::Vec<Self> {
                let parts = parts.max(1);
                let mut pieces = #krate::__private::Vec::new();
                #(
                    for piece in #krate::Crdt::split(&self.#members, parts) {
                        pieces.push(Self { #members: piece, ..::core::default::Default::default() });
                    }
                )*
                #krate::__private::group_pieces(pieces, parts)
            }
        }

        #[automatically_derived]
        impl #impl_generics #name #ty_generics #where_all {
            #( #updates )*
        }
    })
}
