//! Checks the function against the arguments and decides how to expand it:
//! which arguments form the key, whether it is a method, how its value is
//! cached. Every problem found is collected; none stops the others.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident};
use syn::spanned::Spanned;
use syn::{FnArg, GenericParam, Ident, ItemFn, Pat, ReceiverKind, ReturnType, Type};

use crate::args::Args;

/// One parameter of the function, as the expansion uses it.
pub(crate) struct Param {
    /// The name the wrapper binds it to: the user's own for a plain `name: T`,
    /// a generated one for a destructuring pattern.
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    /// Left out of the key by `skip(...)`.
    pub(crate) skipped: bool,
    /// Where errors about this parameter point.
    pub(crate) span: Span,
}

/// How the function's value is cached.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueMode {
    /// The whole return value is stored.
    Whole,
    /// A `Result`: only `Ok` values are stored.
    OkOnly,
}

/// The `self` parameter of a method.
pub(crate) struct SelfParam {
    pub(crate) skipped: bool,
    pub(crate) span: Span,
}

/// Everything the expansion needs beyond the parsed function and arguments.
pub(crate) struct Plan {
    pub(crate) params: Vec<Param>,
    pub(crate) receiver: Option<SelfParam>,
    /// Methods and associated functions get associated companions; free
    /// functions get a companion module.
    pub(crate) associated: bool,
    pub(crate) value_mode: ValueMode,
    /// Generic type and const parameters, which the key must tell apart.
    pub(crate) generic_types: Vec<Ident>,
    pub(crate) generic_consts: Vec<Ident>,
}

/// Accumulates errors so that all of them are reported at once.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, err: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(err),
            None => self.0 = Some(err),
        }
    }

    pub(crate) fn into_result(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

pub(crate) fn plan(function: &ItemFn, args: &Args) -> Result<Plan, syn::Error> {
    let mut errors = Errors::default();
    let sig = &function.sig;

    if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            sig.fn_token.span(),
            "#[cached] memoizes `async fn`s only: make this an `async fn` \
             (synchronous functions are not supported yet)",
        ));
    }
    // A shared cache was built with its own bound and policy.
    if let Some(cache) = &args.cache {
        if let Some(max_size) = &args.max_size {
            errors.push(set_on_shared_cache(
                max_size.span,
                "max_size",
                "bound",
                cache,
            ));
        }
        if let Some(eviction) = &args.eviction {
            errors.push(set_on_shared_cache(
                eviction.span,
                "eviction",
                "policy",
                cache,
            ));
        }
    }

    let skip_names: Vec<&Ident> = args.skip.iter().flat_map(|s| &s.value).collect();
    let mut receiver = None;
    let mut params = Vec::new();
    for (index, input) in sig.inputs.iter().enumerate() {
        match input {
            FnArg::Receiver(recv) => {
                if let ReceiverKind::Reference(_, _, Some(_)) = recv.kind {
                    errors.push(mut_error(recv));
                }
                receiver = Some(SelfParam {
                    skipped: skip_names.iter().any(|name| *name == "self"),
                    span: recv.self_token.span(),
                });
            }
            FnArg::Typed(typed) => {
                if let Type::Reference(reference) = &*typed.ty {
                    if reference.mutability.is_some() {
                        errors.push(mut_error(typed));
                    }
                }
                let ident = match &*typed.pat {
                    Pat::Ident(pat) if pat.subpat.is_none() => pat.ident.clone(),
                    _ => format_ident!("__memo_arg{}", index, span = typed.pat.span()),
                };
                params.push(Param {
                    skipped: skip_names.iter().any(|name| **name == ident),
                    ident,
                    ty: (*typed.ty).clone(),
                    span: typed.span(),
                });
            }
        }
    }

    for name in &skip_names {
        let known = (*name == "self" && receiver.is_some())
            || params.iter().any(|param| param.ident == **name);
        if !known {
            let mut names: Vec<String> = params.iter().map(|p| format!("`{}`", p.ident)).collect();
            if receiver.is_some() {
                names.insert(0, "`self`".to_owned());
            }
            let listed = if names.is_empty() {
                "it has none".to_owned()
            } else {
                format!("its arguments are {}", names.join(", "))
            };
            errors.push(syn::Error::new(
                name.span(),
                format!("`skip({name})`: this function has no argument named `{name}`; {listed}"),
            ));
        }
    }

    let associated = receiver.is_some() || mentions_self(sig.to_token_stream());
    let value_mode = value_mode(&sig.output, args);
    let mut generic_types = Vec::new();
    let mut generic_consts = Vec::new();
    for param in &sig.generics.params {
        match param {
            GenericParam::Type(ty) => generic_types.push(ty.ident.clone()),
            GenericParam::Const(konst) => generic_consts.push(konst.ident.clone()),
            GenericParam::Lifetime(_) => {}
        }
    }

    errors.into_result()?;
    Ok(Plan {
        params,
        receiver,
        associated,
        value_mode,
        generic_types,
        generic_consts,
    })
}

fn set_on_shared_cache(span: Span, argument: &str, what: &str, cache: &syn::Path) -> syn::Error {
    let mut err = syn::Error::new(
        span,
        format!(
            "`{argument}` cannot be combined with `cache = ...`: a shared cache has its own \
             {what}; set it where the cache is built, with `AsyncCache::builder().{argument}(..)`"
        ),
    );
    err.combine(syn::Error::new_spanned(
        cache,
        "the shared cache is named here",
    ));
    err
}

fn mut_error(culprit: impl ToTokens) -> syn::Error {
    syn::Error::new_spanned(
        culprit,
        "#[cached] cannot memoize a function that takes `&mut`: a call answered from the \
         cache would skip the mutation; take the value by shared reference or by value",
    )
}

/// `Result` return types cache only `Ok`, unless `cache_err = true`. The
/// attribute sees only tokens, so a `Result` behind an alias is recognised
/// when `cache_err` is written explicitly (`cache_err = false` for Ok-only).
fn value_mode(output: &ReturnType, args: &Args) -> ValueMode {
    match &args.cache_err {
        Some(cache_err) if cache_err.value => ValueMode::Whole,
        Some(_) => ValueMode::OkOnly,
        None if returns_result(output) => ValueMode::OkOnly,
        None => ValueMode::Whole,
    }
}

fn returns_result(output: &ReturnType) -> bool {
    let ReturnType::Type(_, ty) = output else {
        return false;
    };
    match &**ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Result"),
        _ => false,
    }
}

/// Whether `Self` appears anywhere: then the function lives in an `impl`.
fn mentions_self(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|tree| match tree {
        TokenTree::Ident(ident) => ident == "Self",
        TokenTree::Group(group) => mentions_self(group.stream()),
        _ => false,
    })
}
