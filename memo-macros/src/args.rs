//! Parsing `#[cached(...)]` into [`Args`], one typed field per argument.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Ident, Lit, LitBool, Path, Token};

/// Every argument the attribute accepts, listed in errors about unknown ones.
const VALID: &str = "`ttl`, `refresh`, `stale`, `stale_retry`, `timeout`, `jitter`, `idle`, `expires`, `max_size`, `eviction`, `cache`, `skip`, `key`, \
     `cache_err`, `cache_none`, `shared`, `name`, `version`, `crate`";

/// A parsed argument and where it was written, for errors that point at it.
pub(crate) struct At<T> {
    pub(crate) value: T,
    pub(crate) span: Span,
}

/// The attribute's arguments, each set at most once.
#[derive(Default)]
pub(crate) struct Args {
    /// `ttl = 60` or `ttl = 0.25`: seconds, as nanoseconds.
    pub(crate) ttl: Option<At<u64>>,
    /// `refresh = 10`: seconds after which a value is reloaded in the
    /// background while it is served, as nanoseconds.
    pub(crate) refresh: Option<At<u64>>,
    /// `stale = 3600`: seconds a value is kept past its TTL for
    /// stale-if-error, as nanoseconds.
    pub(crate) stale: Option<At<u64>>,
    /// `stale_retry = 5`: seconds a kept value is served after a failed
    /// reload before the body runs again, as nanoseconds.
    pub(crate) stale_retry: Option<At<u64>>,
    /// `jitter = 0.2`: the fraction of the TTL that expiry is spread over.
    pub(crate) jitter: Option<At<f64>>,
    /// `timeout = 0.2`: seconds a caller waits for a reload when a kept
    /// value could answer it, as nanoseconds.
    pub(crate) timeout: Option<At<u64>>,
    /// `idle = 600`: seconds without a hit after which an entry expires, as
    /// nanoseconds.
    pub(crate) idle: Option<At<u64>>,
    /// `expires = true`: each value's `Expiry` says how long it lives.
    pub(crate) expires: Option<LitBool>,
    /// `max_size = 1000`.
    pub(crate) max_size: Option<At<u64>>,
    /// `eviction = fifo` or `eviction = s3_fifo`.
    pub(crate) eviction: Option<At<Eviction>>,
    /// `cache = PATH`: a shared static that derefs to `AsyncCache`.
    pub(crate) cache: Option<Path>,
    /// `skip(a, b)`: arguments left out of the key.
    pub(crate) skip: Option<At<Vec<Ident>>>,
    /// `key = EXPR`: the key instead of the arguments.
    pub(crate) key: Option<Expr>,
    /// `cache_err = BOOL`: also cache `Err`. Written at all, it also says the
    /// return type is a `Result` (for aliases the attribute cannot see through).
    pub(crate) cache_err: Option<LitBool>,
    /// `cache_none = false`: a `None` result is returned but not stored.
    pub(crate) cache_none: Option<LitBool>,
    /// `crate = PATH`: where `memo_runtime` is, for crates that re-export it.
    pub(crate) krate: Option<Path>,
    /// `shared` (the configured default tier) or `shared = TIER` (a static
    /// `SharedTier`): the shared tier behind the function's cache.
    pub(crate) shared: Option<At<Option<Path>>>,
    /// `name = ".."`: the function's namespace in the shared tier.
    pub(crate) name: Option<syn::LitStr>,
    /// `version = N`: separates entries written by an older value type.
    pub(crate) version: Option<At<u32>>,
}

impl Args {
    /// Parses the attribute's tokens, collecting every error rather than
    /// stopping at the first.
    pub(crate) fn parse(tokens: TokenStream) -> Result<Args, syn::Error> {
        let mut args = Args::default();
        let mut errors: Option<syn::Error> = None;
        let parser = syn::meta::parser(|meta| {
            if let Err(err) = args.parse_one(&meta) {
                // Keep going after a bad value so every mistake is reported,
                // but only when the rest of the input still parses.
                match &mut errors {
                    Some(errors) => errors.combine(err),
                    None => errors = Some(err),
                }
                skip_value(&meta)?;
            }
            Ok(())
        });
        syn::parse::Parser::parse2(parser, tokens)?;
        match errors {
            Some(errors) => Err(errors),
            None => Ok(args),
        }
    }

    fn parse_one(&mut self, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
        let path = &meta.path;
        let name = path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        match name.as_str() {
            "ttl" => set_once(&mut self.ttl, meta, parse_seconds(meta, TTL_HELP)?),
            "refresh" => set_once(&mut self.refresh, meta, parse_seconds(meta, REFRESH_HELP)?),
            "stale" => set_once(&mut self.stale, meta, parse_seconds(meta, STALE_HELP)?),
            "stale_retry" => set_once(
                &mut self.stale_retry,
                meta,
                parse_seconds(meta, STALE_RETRY_HELP)?,
            ),
            "jitter" => set_once(&mut self.jitter, meta, parse_jitter(meta)?),
            "expires" => set_once(&mut self.expires, meta, meta.value()?.parse()?),
            "idle" => set_once(&mut self.idle, meta, parse_seconds(meta, IDLE_HELP)?),
            "timeout" => set_once(&mut self.timeout, meta, parse_seconds(meta, TIMEOUT_HELP)?),
            "max_size" => set_once(&mut self.max_size, meta, parse_max_size(meta)?),
            "eviction" => set_once(&mut self.eviction, meta, parse_eviction(meta)?),
            "cache" => set_once(&mut self.cache, meta, meta.value()?.parse()?),
            "key" => set_once(&mut self.key, meta, meta.value()?.parse()?),
            "cache_err" => set_once(&mut self.cache_err, meta, meta.value()?.parse()?),
            "cache_none" => set_once(&mut self.cache_none, meta, meta.value()?.parse()?),
            "crate" => set_once(&mut self.krate, meta, meta.value()?.parse()?),
            "shared" => {
                let tier = if meta.input.peek(Token![=]) {
                    Some(meta.value()?.parse()?)
                } else {
                    None
                };
                let span = path.span();
                set_once(&mut self.shared, meta, At { value: tier, span })
            }
            "name" => set_once(&mut self.name, meta, meta.value()?.parse()?),
            "version" => {
                let lit: syn::LitInt = meta.value()?.parse()?;
                let value = lit.base10_parse::<u32>().map_err(|_| {
                    syn::Error::new(
                        lit.span(),
                        "`version` is a whole number from 0 to 4294967295",
                    )
                })?;
                set_once(
                    &mut self.version,
                    meta,
                    At {
                        value,
                        span: lit.span(),
                    },
                )
            }
            "skip" => {
                let mut names = Vec::new();
                meta.parse_nested_meta(|inner| match inner.path.get_ident() {
                    Some(ident) => {
                        names.push(ident.clone());
                        Ok(())
                    }
                    None => Err(inner.error("expected an argument name, like `skip(pool)`")),
                })?;
                let span = path.span();
                set_once(&mut self.skip, meta, At { value: names, span })
            }
            _ => Err(meta.error(format_args!(
                "unknown argument `{}` of #[cached]; the valid ones are {VALID}",
                quote::ToTokens::to_token_stream(path)
                    .to_string()
                    .replace(' ', "")
            ))),
        }
    }
}

/// Stores a value, or reports that the argument was already given.
fn set_once<T>(slot: &mut Option<T>, meta: &ParseNestedMeta<'_>, value: T) -> syn::Result<()> {
    if slot.is_some() {
        let name = quote::ToTokens::to_token_stream(&meta.path).to_string();
        return Err(syn::Error::new_spanned(
            &meta.path,
            format!("duplicate argument `{name}`; give it once"),
        ));
    }
    *slot = Some(value);
    Ok(())
}

/// After an error, consumes the rest of this argument so parsing can go on.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.input.parse::<Token![=]>()?;
        meta.input.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
    }
    Ok(())
}

const TTL_HELP: &str = "`ttl` must be a positive number of seconds, like `ttl = 60` or \
                        `ttl = 0.25`; to never expire, leave it out and give the cache a long \
                        default TTL";
const REFRESH_HELP: &str = "`refresh` must be a positive number of seconds shorter than `ttl`, \
                            like `refresh = 50` with `ttl = 60`: a value that old is served while \
                            it reloads in the background";
const TIMEOUT_HELP: &str = "`timeout` must be a positive number of seconds, like `timeout = \
                            0.2`: how long a caller waits for a reload before it gets the value \
                            `stale` kept";
const IDLE_HELP: &str = "`idle` must be a positive number of seconds, like `idle = 600`: an \
                         entry not hit for that long expires (never later than its `ttl`)";
const STALE_HELP: &str = "`stale` must be a positive number of seconds, like `stale = 3600`: \
                          how long a value is kept past its `ttl` to stand in for a failed \
                          reload; leave it out to keep nothing";
const STALE_RETRY_HELP: &str = "`stale_retry` must be a positive number of seconds, like \
                                `stale_retry = 5`: how long a kept value is served after a failed \
                                reload before the body runs again (default 30)";

/// A positive number of seconds (`ttl = 60`, `stale = 0.5`), returned in
/// nanoseconds; `help` says what the argument is when it is not one.
fn parse_seconds(meta: &ParseNestedMeta<'_>, help: &str) -> syn::Result<At<u64>> {
    let expr: Expr = meta.value()?.parse()?;
    let span = expr.span();
    let seconds = number(&expr);
    match seconds {
        Some(seconds) if seconds > 0.0 && seconds.is_finite() => {
            let nanos = (seconds * 1e9).round();
            if nanos < 1.0 {
                Err(syn::Error::new(span, help))
            } else {
                Ok(At {
                    value: nanos.min(u64::MAX as f64) as u64,
                    span,
                })
            }
        }
        _ => Err(syn::Error::new(span, help)),
    }
}

/// `jitter = 0.2`: a fraction in `[0, 1)`.
fn parse_jitter(meta: &ParseNestedMeta<'_>) -> syn::Result<At<f64>> {
    const HELP: &str = "`jitter` must be a fraction from 0 up to (not including) 1, like \
                        `jitter = 0.2`: each TTL is drawn from [ttl * (1 - jitter), ttl]";
    let expr: Expr = meta.value()?.parse()?;
    let span = expr.span();
    match number(&expr) {
        Some(jitter) if (0.0..1.0).contains(&jitter) => Ok(At {
            value: jitter,
            span,
        }),
        _ => Err(syn::Error::new(span, HELP)),
    }
}

/// The value of a non-negative integer or float literal.
fn number(expr: &Expr) -> Option<f64> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => int.base10_parse::<u64>().ok().map(|s| s as f64),
        Expr::Lit(ExprLit {
            lit: Lit::Float(float),
            ..
        }) => float.base10_parse::<f64>().ok(),
        // Negative numbers and expressions: not a number of seconds.
        _ => None,
    }
}

/// `max_size = 1000`, at least 1.
fn parse_max_size(meta: &ParseNestedMeta<'_>) -> syn::Result<At<u64>> {
    const HELP: &str = "`max_size` must be a whole number of entries, at least 1, like \
                        `max_size = 1000`";
    let expr: Expr = meta.value()?.parse()?;
    let span = expr.span();
    match &expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => match int.base10_parse::<u64>() {
            Ok(0) => Err(syn::Error::new(
                span,
                "`max_size = 0` would cache nothing; give at least 1, or leave the \
                 attribute off to call the function uncached",
            )),
            Ok(value) => Ok(At { value, span }),
            Err(_) => Err(syn::Error::new(span, HELP)),
        },
        _ => Err(syn::Error::new(span, HELP)),
    }
}

/// The eviction policies, as the runtime's `Eviction` names them.
#[derive(Clone, Copy)]
pub(crate) enum Eviction {
    Fifo,
    S3Fifo,
}

/// `eviction = fifo` or `eviction = s3_fifo`.
fn parse_eviction(meta: &ParseNestedMeta<'_>) -> syn::Result<At<Eviction>> {
    let ident: Ident = meta.value()?.parse()?;
    let value = match ident.to_string().as_str() {
        "fifo" => Eviction::Fifo,
        "s3_fifo" => Eviction::S3Fifo,
        other => {
            return Err(syn::Error::new(
                ident.span(),
                format!(
                    "unknown eviction policy `{other}`; write `eviction = fifo` or `eviction = s3_fifo`"
                ),
            ));
        }
    };
    Ok(At {
        value,
        span: ident.span(),
    })
}
