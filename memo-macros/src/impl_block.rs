//! `#[cached]` on an `impl` block, for the two shapes a fn-level attribute
//! cannot handle: an associated function without `self` looks exactly like a
//! free function to it, and a trait impl cannot hold the generated items.
//!
//! The impl-level attribute rewrites each method marked with its own
//! `#[cached(..)]`: the memoizing wrapper takes the method's place, and the
//! body and companions go beside it (inherent impl) or into a hidden inherent
//! impl of `Self` (trait impl; `Self` must then be a local type).

use proc_macro2::TokenStream;
use quote::quote;
use syn::spanned::Spanned;
use syn::{Attribute, ImplItem, ItemFn, ItemImpl, Meta};

use crate::args::Args;
use crate::errors::Errors;
use crate::expand::{self, Expansion};
use crate::plan::{self, Place};

/// Expands `#[cached] impl .. { .. }`. On errors, the impl is emitted with
/// the markers removed, beside the errors, so the rest of the crate compiles.
pub(crate) fn memoize_impl(args: TokenStream, mut item: ItemImpl) -> TokenStream {
    let mut errors = Errors::default();
    if !args.is_empty() {
        errors.push(syn::Error::new(
            args.span(),
            "#[cached] on an impl block takes no arguments; give them to each method's own \
             `#[cached(..)]`",
        ));
    }
    let place = Place::Associated {
        of_trait: item.trait_.as_ref().map(|(path, _)| path.clone()),
    };
    let mut marked = 0;
    let mut beside = Vec::new();
    for impl_item in &mut item.items {
        let ImplItem::Fn(method) = impl_item else {
            continue;
        };
        let Some(marker) = take_marker(&mut method.attrs) else {
            continue;
        };
        marked += 1;
        match memoize_method(marker, method, &place) {
            Ok(expansion) => {
                *impl_item = ImplItem::Verbatim(expansion.wrapper);
                beside.push(expansion.beside);
            }
            Err(err) => errors.push(err),
        }
    }
    if marked == 0 {
        errors.push(syn::Error::new(
            item.impl_token.span,
            "no method of this impl is marked `#[cached]`; mark the ones to memoize: \
             `#[cached] impl Type { #[cached(ttl = 60)] async fn load(id: u64) -> T { .. } }`",
        ));
    }
    if let Err(errors) = errors.into_result() {
        let errors = errors.into_compile_error();
        return quote!(#item #errors);
    }
    if item.trait_.is_none() {
        item.items
            .extend(beside.into_iter().map(ImplItem::Verbatim));
        return quote!(#item);
    }
    let self_ty = &item.self_ty;
    let (impl_generics, _, where_clause) = item.generics.split_for_impl();
    quote! {
        #item

        #[allow(dead_code, private_interfaces, clippy::all)]
        impl #impl_generics #self_ty #where_clause {
            #(#beside)*
        }
    }
}

/// Removes the method's `#[cached(..)]` and returns it.
fn take_marker(attrs: &mut Vec<Attribute>) -> Option<Attribute> {
    let at = attrs.iter().position(|attr| {
        attr.path()
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "cached")
    })?;
    Some(attrs.remove(at))
}

fn memoize_method(
    marker: Attribute,
    method: &syn::ImplItemFn,
    place: &Place,
) -> syn::Result<Expansion> {
    let args = match &marker.meta {
        Meta::Path(_) => TokenStream::new(),
        Meta::List(list) => list.tokens.clone(),
        Meta::NameValue(name_value) => {
            return Err(syn::Error::new_spanned(
                name_value,
                "write `#[cached]` or `#[cached(ttl = 60, ..)]`",
            ));
        }
    };
    let args = Args::parse(args)?;
    let (attrs, vis, sig, block) = (&method.attrs, &method.vis, &method.sig, &method.block);
    let function: ItemFn = syn::parse2(quote!(#(#attrs)* #vis #sig #block))?;
    let plan = plan::plan(&function, &args, Some(place.clone()))?;
    Ok(expand::expand(&function, &plan))
}
