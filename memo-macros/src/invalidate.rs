//! `invalidate!(path::to::f, args..)`: removes one cached result of a
//! memoized function or method.
//!
//! Without types, a macro cannot tell a module path (`a::b::f`) from a method
//! path (`Repo::find`). `#[cached]` therefore emits a hidden
//! `__memo_invalidate_f` beside every function and method, and a path of
//! several segments expands to `prefix::__memo_invalidate_last(args..)`. A
//! single name (`invalidate!(f, 1)`) expands to `f::invalidate(1)`, which an
//! import of `f` brings along.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Path, PathArguments, Token};

/// The macro's input: a path, then the key arguments.
pub(crate) struct Invalidate {
    path: Path,
    args: Punctuated<Expr, Token![,]>,
}

impl Parse for Invalidate {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let path: Path = input.parse().map_err(|err| {
            syn::Error::new(
                err.span(),
                "expected the memoized function first: `invalidate!(fetch_user, 1)` or \
                 `invalidate!(Repo::find, &repo, 1)`",
            )
        })?;
        let args = if input.is_empty() {
            Punctuated::new()
        } else {
            input.parse::<Token![,]>()?;
            Punctuated::parse_terminated(input)?
        };
        Ok(Invalidate { path, args })
    }
}

impl Invalidate {
    pub(crate) fn expand(self) -> TokenStream {
        let Invalidate { mut path, args } = self;
        let args = args.iter();
        let last = path.segments.pop().expect("a parsed path has a segment");
        let generics = match &last.arguments {
            PathArguments::AngleBracketed(generics) => {
                let generics = &generics.args;
                quote!(::<#generics>)
            }
            _ => quote!(),
        };
        let name = &last.ident;
        if path.segments.is_empty() {
            let leading = path.leading_colon;
            return quote!(#leading #name::invalidate #generics (#(#args),*));
        }
        let hidden = format_ident!("__memo_invalidate_{}", name, span = name.span());
        quote!(#path #hidden #generics (#(#args),*))
    }
}
