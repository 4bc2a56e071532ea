//! Checks the function against the arguments and resolves everything the
//! expansion needs into a [`Plan`]: which arguments form the key, whether it
//! is a method, async or blocking, how its value is cached, its TTL and
//! which cache it uses. The expansion reads the plan, never the arguments.
//! Every problem found is collected; none stops the others.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident};
use syn::spanned::Spanned;
use syn::{Expr, FnArg, GenericParam, Ident, ItemFn, Pat, ReceiverKind, ReturnType, Type};

use crate::args::{Args, Eviction};
use crate::errors::Errors;
use crate::types;

/// One parameter of the function, as the expansion uses it.
pub(crate) struct Param {
    /// The name the wrapper binds it to: the user's own for a plain `name: T`,
    /// a generated one for a destructuring pattern.
    pub(crate) ident: Ident,
    pub(crate) ty: Type,
    /// Left out of the key by `skip(...)`.
    pub(crate) skipped: bool,
    /// Its type has an `impl Trait`: the caller's concrete type is keyed too.
    pub(crate) impl_trait: bool,
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
    /// An `Option` with `cache_none = false`: only `Some` values are stored.
    SomeOnly,
}

/// The `self` parameter of a method.
pub(crate) struct SelfParam {
    pub(crate) skipped: bool,
    /// `&self`, `&mut self` or `self: &Self`: it borrows from the caller.
    pub(crate) borrowed: bool,
    pub(crate) span: Span,
}

/// Where the function is declared, as far as the attribute can know.
#[derive(Clone)]
pub(crate) enum Place {
    /// A module or a block: companions are `f::invalidate(..)`.
    Free,
    /// An `impl` block: companions are `Type::f_invalidate(..)`. `of_trait`
    /// is the trait's path for a trait impl (only the impl-level attribute
    /// sees it).
    Associated { of_trait: Option<syn::Path> },
}

/// Which cache the function's entries live in.
pub(crate) enum CacheSource {
    /// A cache of its own, with the attribute's bound and policy (or the
    /// global defaults).
    Own {
        max_size: Option<u64>,
        eviction: Option<Eviction>,
    },
    /// `cache = PATH`: a shared static.
    Shared(syn::Path),
}

/// The shared tier behind a function's cache.
pub(crate) struct SharedPlan {
    /// `shared = TIER`; `None`: the tier `Config::shared_tier` sets.
    pub(crate) tier: Option<syn::Path>,
    /// `name = ".."`; `None`: the function's namespace.
    pub(crate) name: Option<String>,
    pub(crate) version: u32,
}

/// Everything the expansion needs beyond the parsed function.
pub(crate) struct Plan {
    pub(crate) shared: Option<SharedPlan>,
    /// `ttl = ..` in nanoseconds; `None` takes the cache's default.
    pub(crate) ttl_nanos: Option<u64>,
    /// `refresh = ..` in nanoseconds.
    pub(crate) refresh_nanos: Option<u64>,
    /// `stale = ..` and `stale_retry = ..` in nanoseconds.
    pub(crate) stale_nanos: Option<(u64, Option<u64>)>,
    /// `jitter = ..`.
    pub(crate) jitter: Option<f64>,
    /// `expires = true`: the value's `Expiry` gives its TTL.
    pub(crate) expires: bool,
    /// `idle = ..` in nanoseconds.
    pub(crate) idle_nanos: Option<u64>,
    /// `timeout = ..` (the soft timeout) in nanoseconds.
    pub(crate) timeout_nanos: Option<u64>,
    pub(crate) cache: CacheSource,
    /// `key = EXPR`, keyed instead of the arguments.
    pub(crate) key: Option<Expr>,
    /// Where `memo_runtime` is (`crate = ..`, else `::memo_runtime`).
    pub(crate) krate: syn::Path,
    pub(crate) params: Vec<Param>,
    pub(crate) receiver: Option<SelfParam>,
    pub(crate) place: Place,
    /// An `async fn`; otherwise a blocking one.
    pub(crate) is_async: bool,
    pub(crate) value_mode: ValueMode,
    /// Generic type and const parameters, which the key must tell apart.
    pub(crate) generic_types: Vec<Ident>,
    pub(crate) generic_consts: Vec<Ident>,
}

impl Plan {
    pub(crate) fn associated(&self) -> bool {
        matches!(self.place, Place::Associated { .. })
    }
}

/// Plans the expansion of `function`. `place` is `None` for the fn-level
/// attribute, which tells a method by its `self` or a `Self` in the
/// signature.
pub(crate) fn plan(function: &ItemFn, args: &Args, place: Option<Place>) -> syn::Result<Plan> {
    let mut errors = Errors::default();
    let sig = &function.sig;

    check_shape(sig, &mut errors);
    check_shared_cache(args, &mut errors);

    let skip_names: Vec<&Ident> = args.skip.iter().flat_map(|s| &s.value).collect();
    let mut receiver = None;
    let mut params = Vec::new();
    for (index, input) in sig.inputs.iter().enumerate() {
        match input {
            FnArg::Receiver(recv) => {
                match &recv.kind {
                    ReceiverKind::Reference(_, _, Some(_)) => errors.push(mut_error(recv)),
                    ReceiverKind::Typed(_, ty) => {
                        mut_references(ty).for_each(|err| errors.push(err));
                    }
                    _ => {}
                }
                receiver = Some(SelfParam {
                    skipped: skip_names.iter().any(|name| *name == "self"),
                    borrowed: match &recv.kind {
                        ReceiverKind::Reference(..) => true,
                        ReceiverKind::Typed(_, ty) => types::borrowed_part(ty).is_some(),
                        ReceiverKind::Value => false,
                        // A kind of receiver syn may add later: assume it
                        // borrows.
                        _ => true,
                    },
                    span: recv.self_token.span(),
                });
            }
            FnArg::Typed(typed) => {
                mut_references(&typed.ty).for_each(|err| errors.push(err));
                let ident = match &*typed.pat {
                    Pat::Ident(pat) if pat.subpat.is_none() => pat.ident.clone(),
                    _ => format_ident!("__memo_arg{}", index, span = typed.pat.span()),
                };
                params.push(Param {
                    skipped: skip_names.iter().any(|name| **name == ident),
                    impl_trait: types::has_impl_trait(&typed.ty),
                    ident,
                    ty: (*typed.ty).clone(),
                    span: typed.span(),
                });
            }
        }
    }
    check_skip_names(&skip_names, &params, receiver.is_some(), &mut errors);

    let place = place.unwrap_or_else(|| {
        if receiver.is_some() || mentions_self(sig.to_token_stream()) {
            Place::Associated { of_trait: None }
        } else {
            Place::Free
        }
    });
    let value_mode = value_mode(&sig.output, args, &mut errors);
    let mut generic_types = Vec::new();
    let mut generic_consts = Vec::new();
    for param in &sig.generics.params {
        match param {
            GenericParam::Type(ty) => generic_types.push(ty.ident.clone()),
            GenericParam::Const(konst) => generic_consts.push(konst.ident.clone()),
            GenericParam::Lifetime(_) => {}
        }
    }

    let cache = match &args.cache {
        Some(path) => CacheSource::Shared(path.clone()),
        None => CacheSource::Own {
            max_size: args.max_size.as_ref().map(|m| m.value),
            eviction: args.eviction.as_ref().map(|e| e.value),
        },
    };

    let shared = shared_plan(args, sig, &mut errors);
    check_freshness(args, &mut errors);
    check_refresh(args, &params, receiver.as_ref(), &mut errors);

    errors.into_result()?;
    Ok(Plan {
        shared,
        ttl_nanos: args.ttl.as_ref().map(|ttl| ttl.value),
        refresh_nanos: args.refresh.as_ref().map(|refresh| refresh.value),
        stale_nanos: args.stale.as_ref().map(|stale| {
            (
                stale.value,
                args.stale_retry.as_ref().map(|retry| retry.value),
            )
        }),
        jitter: args.jitter.as_ref().map(|jitter| jitter.value),
        expires: args.expires.as_ref().is_some_and(|expires| expires.value),
        idle_nanos: args.idle.as_ref().map(|idle| idle.value),
        timeout_nanos: args.timeout.as_ref().map(|timeout| timeout.value),
        cache,
        key: args.key.clone(),
        krate: args
            .krate
            .clone()
            .unwrap_or_else(|| syn::parse_quote!(::memo_runtime)),
        params,
        receiver,
        place,
        is_async: sig.asyncness.is_some(),
        value_mode,
        generic_types,
        generic_consts,
    })
}

/// `stale`, `stale_retry` and `jitter`, checked against each other and
/// against the other arguments.
fn check_freshness(args: &Args, errors: &mut Errors) {
    if let (None, Some(retry)) = (&args.stale, &args.stale_retry) {
        errors.push(syn::Error::new(
            retry.span,
            "`stale_retry` throttles the retries of `stale`'s fallback; add `stale = N` (seconds \
             a value is kept past its `ttl`), or remove `stale_retry`",
        ));
    }
    if let (Some(stale), Some(cache_err)) = (&args.stale, &args.cache_err)
        && cache_err.value
    {
        errors.push(syn::Error::new(
            stale.span,
            "`stale` serves the kept value when a reload returns `Err`, and `cache_err = true` \
             stores that `Err` as the value instead: the two cannot both apply; keep one",
        ));
    }
    if let (Some(timeout), None) = (&args.timeout, &args.stale) {
        errors.push(syn::Error::new(
            timeout.span,
            "`timeout` is a soft timeout: after it, the caller gets the value `stale` kept while \
             the reload goes on; add `stale = N` (seconds a value is kept past its `ttl`), or \
             remove `timeout`",
        ));
    }
}

/// `refresh`: shorter than `ttl`, and every argument owned, because the
/// body reloads in the background after the call that found the value due
/// has returned.
fn check_refresh(args: &Args, params: &[Param], receiver: Option<&SelfParam>, errors: &mut Errors) {
    if let (Some(refresh), Some(ttl)) = (&args.refresh, &args.ttl)
        && refresh.value >= ttl.value
    {
        errors.push(syn::Error::new(
            refresh.span,
            "`refresh` must be shorter than `ttl`: a value is reloaded in the background once \
             it is `refresh` seconds old, which must come before it expires at `ttl`",
        ));
    }
    let (what, argument) = match (&args.refresh, &args.timeout) {
        (Some(_), _) => ("the background reload of `refresh`", "refresh"),
        (None, Some(_)) => ("the reload that outlives a soft `timeout`", "timeout"),
        (None, None) => return,
    };
    let owned = format!(
        "{what} runs the body after this call has returned, so every argument must be owned \
         (`'static`)"
    );
    if let Some(receiver) = receiver.filter(|receiver| receiver.borrowed) {
        errors.push(syn::Error::new(
            receiver.span,
            format!(
                "{owned}, and `self` is borrowed; take `self: Arc<Self>` (or an owned `self`), \
                 or remove `{argument}`"
            ),
        ));
    }
    for param in params {
        if let Some(span) = types::borrowed_part(&param.ty) {
            errors.push(syn::Error::new(
                span,
                format!(
                    "{owned}, and `{}` borrows; take an owned type (`String` for `&str`, \
                     `Vec<T>` for `&[T]`, an `Arc` for a shared handle), or remove `{argument}`",
                    param.ident
                ),
            ));
        }
    }
}

/// Function shapes that cannot be memoized, and return types that cannot be
/// stored.
fn check_shape(sig: &syn::Signature, errors: &mut Errors) {
    if let Some(constness) = &sig.constness {
        errors.push(syn::Error::new(
            constness.span,
            "#[cached] cannot memoize a `const fn`: its cache lives in a `static` that a \
             constant evaluation cannot reach; remove `const`",
        ));
    }
    if sig.asyncness.is_none() && types::is_boxed_future(&sig.output) {
        errors.push(syn::Error::new(
            sig.output.span(),
            "#[cached] sees this method after `#[async_trait]` turned it into a boxed future; \
             put `#[cached]` on the impl block too, above `#[async_trait]`: \
             `#[cached] #[async_trait] impl Trait for Type { #[cached] async fn .. }`",
        ));
        return;
    }
    if let ReturnType::Type(_, ty) = &sig.output
        && let Some(span) = types::borrowed_part(ty)
    {
        errors.push(syn::Error::new(
            span,
            "a cached value must be owned: it is stored and handed to later calls, so it \
             cannot borrow from this call's arguments; return an owned type (`String` for \
             `&str`, `Vec<T>` for `&[T]`, or `Arc<str>`/`Arc<T>` to share one copy). \
             `&'static` references are fine",
        ));
    }
}

/// `shared`, `name` and `version`, checked against the function.
fn shared_plan(args: &Args, sig: &syn::Signature, errors: &mut Errors) -> Option<SharedPlan> {
    let Some(shared) = &args.shared else {
        if let Some(name) = &args.name {
            errors.push(syn::Error::new(
                name.span(),
                "`name` names the function in the shared tier; add `shared` (or remove `name`)",
            ));
        }
        if let Some(version) = &args.version {
            errors.push(syn::Error::new(
                version.span,
                "`version` separates values in the shared tier; add `shared` (or remove \
                 `version`)",
            ));
        }
        return None;
    };
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new(
            shared.span,
            "`shared`: the shared tier serves `async fn`s (a plain `fn` would block its thread \
             on Redis); make the function `async`, or remove `shared` to cache in memory",
        ));
    }
    if let Some(cache) = &args.cache {
        errors.push(syn::Error::new_spanned(
            cache,
            "`shared` keeps the function's own in-memory cache in front of the tier; remove \
             `cache = ..`",
        ));
    }
    let name = args.name.as_ref().map(syn::LitStr::value);
    if let (Some(lit), Some(name)) = (&args.name, &name) {
        let printable = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'{' && b != b'}');
        if !printable {
            errors.push(syn::Error::new(
                lit.span(),
                "`name` must be printable ASCII without spaces, `{` or `}` (it is part of Redis \
                 keys)",
            ));
        }
    }
    Some(SharedPlan {
        tier: shared.value.clone(),
        name,
        version: args.version.as_ref().map_or(0, |v| v.value),
    })
}

/// A shared cache was built with its own bound and policy.
fn check_shared_cache(args: &Args, errors: &mut Errors) {
    let Some(cache) = &args.cache else {
        return;
    };
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

fn check_skip_names(skip: &[&Ident], params: &[Param], has_self: bool, errors: &mut Errors) {
    for name in skip {
        let known =
            (*name == "self" && has_self) || params.iter().any(|param| param.ident == **name);
        if known {
            continue;
        }
        let mut names: Vec<String> = params.iter().map(|p| format!("`{}`", p.ident)).collect();
        if has_self {
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

const MUT_HELP: &str = "#[cached] cannot memoize a function that takes `&mut`: a call answered \
                        from the cache would skip the mutation; take the value by shared \
                        reference or by value";

fn mut_error(culprit: impl ToTokens) -> syn::Error {
    syn::Error::new_spanned(culprit, MUT_HELP)
}

/// One error per `&mut` anywhere in `ty`, each pointing at its reference.
fn mut_references(ty: &Type) -> impl Iterator<Item = syn::Error> + '_ {
    types::mut_references(ty).into_iter().map(mut_error)
}

/// `Result` return types cache only `Ok`, unless `cache_err = true`. The
/// attribute sees only tokens, so a `Result` behind an alias is recognised
/// when `cache_err` is written explicitly (`cache_err = false` for Ok-only).
/// `cache_none = false` stores only `Some` of an `Option`.
fn value_mode(output: &ReturnType, args: &Args, errors: &mut Errors) -> ValueMode {
    if let Some(cache_none) = &args.cache_none {
        if !types::returns_option(output) {
            errors.push(syn::Error::new(
                cache_none.span,
                "`cache_none` applies to functions returning `Option<T>`; remove it",
            ));
        } else if let Some(cache_err) = &args.cache_err {
            errors.push(syn::Error::new(
                cache_err.span,
                "`cache_err` applies to functions returning `Result`; this one returns an \
                 `Option`",
            ));
        }
        if !cache_none.value {
            return ValueMode::SomeOnly;
        }
    }
    match &args.cache_err {
        Some(cache_err) if cache_err.value => ValueMode::Whole,
        Some(_) => ValueMode::OkOnly,
        None if types::returns_result(output) => ValueMode::OkOnly,
        None => ValueMode::Whole,
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
