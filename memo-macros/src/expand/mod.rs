//! Writes the expansion of one memoized function.
//!
//! Input:
//!
//! ```text
//! #[cached(ttl = 60, skip(pool))]
//! pub async fn fetch_user(id: u64, pool: &Pool) -> Result<User, Error> { BODY }
//! ```
//!
//! Output, for a free function (methods get the same items as associated
//! functions, named `fetch_user_invalidate` and so on; see `companions.rs`):
//!
//! ```text
//! pub async fn fetch_user(id: u64, pool: &Pool) -> Result<User, Error> {
//!     let key = encode(&(id,));
//!     match lookup(fetch_user::cache(), fetch_user::__memo_namespace(), &key) {
//!         Hit(value) => return Ok(value),
//!         Miss(key) => memoize_ok(fetch_user::cache(), fetch_user::__memo_site(), key,
//!                                 __memo_body_fetch_user(id, pool)).await,
//!     }
//! }
//! async fn __memo_body_fetch_user(id: u64, pool: &Pool) -> Result<User, Error> { BODY }
//! pub struct fetch_user {}
//! impl fetch_user { pub fn cache() ..; pub async fn invalidate(id: u64) -> bool ..; .. }
//! ```
//!
//! Every item is emitted beside the function, in the scope the user wrote it
//! in, so every path the user wrote (`super::X`, a type from a `use` in a
//! function body) resolves where it was written. The companions hang off a
//! braced struct of the function's name: it lives in the type namespace only,
//! so it never clashes with the function, and `use m::fetch_user` imports
//! both. The body stays in a function of its own with the user's signature,
//! so type errors and `?` in it are checked against the declared return type
//! and point into the body. Generated names live at `Span::mixed_site()` and
//! every runtime item is named through `memo_runtime::__private`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{AttrStyle, Attribute, FnArg, Ident, ItemFn, Pat, PatIdent, ReturnType};

use crate::plan::{Plan, ValueMode};

mod companions;

/// The pieces every generated item needs.
pub(crate) struct Ctx<'a> {
    pub(crate) function: &'a ItemFn,
    pub(crate) plan: &'a Plan,
    /// `::memo_runtime::__private`, or the `crate = ...` override's.
    pub(crate) rt: TokenStream,
    /// Attributes that must follow the function to every generated item:
    /// `cfg` and lint levels.
    pub(crate) inherited_attrs: Vec<&'a Attribute>,
}

/// A memoized function, expanded.
pub(crate) struct Expansion {
    /// The user's function, now routed through the cache.
    pub(crate) wrapper: TokenStream,
    /// Everything generated beside it: free items for a free function,
    /// associated items for a method.
    pub(crate) beside: TokenStream,
}

pub(crate) fn expand(function: &ItemFn, plan: &Plan) -> Expansion {
    let krate = &plan.krate;
    let inherited_attrs = function
        .attrs
        .iter()
        .filter(|attr| {
            matches!(attr.style, AttrStyle::Outer)
                && ["cfg", "allow", "warn", "deny", "expect"]
                    .iter()
                    .any(|name| attr.path().is_ident(name))
        })
        .collect();
    let ctx = Ctx {
        function,
        plan,
        rt: quote!(#krate::__private),
        inherited_attrs,
    };
    let body = ctx.body_fn();
    let companions = ctx.companions();
    Expansion {
        wrapper: ctx.wrapper(),
        beside: quote! {
            #companions
            #body
        },
    }
}

impl Ctx<'_> {
    pub(crate) fn ident(&self) -> &Ident {
        &self.function.sig.ident
    }

    fn body_ident(&self) -> Ident {
        format_ident!("__memo_body_{}", self.ident())
    }

    /// The name of the generated item `name`: `cache` on the companion
    /// struct of a free function, `fetch_user_cache` beside a method.
    /// Hidden items (`__memo_site`...) get the function's name as a suffix.
    pub(crate) fn item_name(&self, name: &str) -> Ident {
        match (self.plan.associated(), name.starts_with("__memo_")) {
            (false, _) => format_ident!("{}", name),
            (true, false) => format_ident!("{}_{}", self.ident(), name),
            (true, true) => format_ident!("{}_{}", name, self.ident()),
        }
    }

    /// A path to the generated item `name`, from the wrapper
    /// (`in_companions = false`) or from the companions.
    pub(crate) fn item(&self, name: &str, in_companions: bool) -> TokenStream {
        let item = self.item_name(name);
        if self.plan.associated() || in_companions {
            quote!(Self::#item)
        } else {
            let ident = self.ident();
            quote!(#ident::#item)
        }
    }

    /// `encode(&(parts...))`: the key of one call, into `__memo_key`. The
    /// wrapper and the companions build it with these same tokens, so they
    /// always agree.
    pub(crate) fn key(&self) -> TokenStream {
        let rt = &self.rt;
        let builder = Ident::new("__memo_key", Span::mixed_site());
        let mut parts = Vec::new();
        for ty in &self.plan.generic_types {
            parts.push(quote!(#builder.part(#rt::type_name::<#ty>());));
        }
        for konst in &self.plan.generic_consts {
            parts.push(quote!(#builder.part(&#konst);));
        }
        // Each argument's part is spanned at the argument: a missing
        // `Serialize` is reported there.
        if let Some(expr) = &self.plan.key {
            parts.push(quote_spanned!(expr.span()=> #builder.part(&(#expr));));
        } else {
            if let Some(receiver) = self.plan.receiver.as_ref().filter(|r| !r.skipped) {
                let self_token = quote_spanned!(receiver.span=> self);
                parts.push(quote_spanned!(receiver.span=> #builder.part(&#self_token);));
            }
            for param in self.plan.params.iter().filter(|p| !p.skipped) {
                let ident = &param.ident;
                // Each caller picks the concrete type of an `impl Trait`
                // argument: `1u32` and `1u64` must not share an entry.
                if param.impl_trait {
                    parts.push(quote!(#builder.part(#rt::type_name_of_val(&#ident));));
                }
                parts.push(quote_spanned!(param.span=> #builder.part(&#ident);));
            }
        }
        let count = parts.len();
        quote! {
            let mut #builder = #rt::EncodedKey::new(#count);
            #(#parts)*
            #builder.finish();
        }
    }

    /// The function the user wrote, now routed through the cache.
    fn wrapper(&self) -> TokenStream {
        let rt = &self.rt;
        let function = self.function;
        let attrs = function
            .attrs
            .iter()
            .filter(|attr| matches!(attr.style, AttrStyle::Outer));
        let vis = &function.vis;
        let sig = self.wrapper_sig();
        let key = self.key();
        let cache = self.item("cache", false);
        let site = self.item("__memo_site", false);
        let namespace = self.item("__memo_namespace", false);
        let call = self.body_call();
        let hit = Ident::new("__memo_hit", Span::mixed_site());
        let hit_value = match self.plan.value_mode {
            ValueMode::Whole | ValueMode::SomeOnly => quote!(#hit),
            ValueMode::OkOnly => quote!(#rt::Result::Ok(#hit)),
        };
        let shared = self.plan.shared.is_some();
        let entry = match (self.plan.value_mode, self.plan.is_async) {
            (ValueMode::Whole, true) if shared => quote!(memoize_shared),
            (ValueMode::OkOnly, true) if shared => quote!(memoize_shared_ok),
            (ValueMode::SomeOnly, true) if shared => quote!(memoize_shared_some),
            (ValueMode::Whole, true) => quote!(memoize),
            (ValueMode::OkOnly, true) => quote!(memoize_ok),
            (ValueMode::SomeOnly, true) => quote!(memoize_some),
            (ValueMode::Whole, false) => quote!(memoize_blocking),
            (ValueMode::OkOnly, false) => quote!(memoize_ok_blocking),
            (ValueMode::SomeOnly, false) => quote!(memoize_some_blocking),
        };
        // Errors about the value (not `Clone`...) point at the return type.
        let output_span = match &sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => sig.ident.span(),
        };
        // The whole path, `::memo_runtime::__private` included, carries the
        // return type's span, so the call's errors are reported there.
        let rt_at_output = respan(rt.clone(), output_span);
        let key_ref = Ident::new("__memo_key", Span::mixed_site());
        // Whole calls at the return type: an error's span runs from the first
        // token of the call to its closing parenthesis.
        let load_cache = if shared {
            self.item("__memo_shared", false)
        } else {
            cache.clone()
        };
        // Who decides a loaded value's TTL.
        let lifetime = if self.plan.expires {
            quote_spanned!(output_span=> #rt_at_output::ValueTtl,)
        } else {
            quote_spanned!(output_span=> #rt_at_output::SiteTtl,)
        };
        // With a soft timeout, the body goes first to the soft-timeout step,
        // which hands it back when nothing is kept.
        let body = Ident::new("__memo_body", Span::mixed_site());
        // A shared function's soft timeout is its load: the shared load runs
        // detached behind it (see below).
        let soft_timeout = self.plan.timeout_nanos.filter(|_| !shared).map(|_| {
            let step = match (self.plan.value_mode, self.plan.is_async) {
                (ValueMode::Whole, true) => quote!(soft_timeout),
                (ValueMode::OkOnly, true) => quote!(soft_timeout_ok),
                (ValueMode::SomeOnly, true) => quote!(soft_timeout_some),
                (ValueMode::Whole, false) => quote!(soft_timeout_blocking),
                (ValueMode::OkOnly, false) => quote!(soft_timeout_ok_blocking),
                (ValueMode::SomeOnly, false) => quote!(soft_timeout_some_blocking),
            };
            let (reload, dot_await) = if self.plan.is_async {
                (quote!(#call), quote!(.await))
            } else {
                (quote!(move || #call), quote!())
            };
            quote_spanned! {output_span=>
                let (#key_ref, #body) =
                    match #rt_at_output::#step(#cache(), #site(), #key_ref, #lifetime #reload) #dot_await {
                        #rt::Within::Value(__memo_value) => return __memo_value,
                        #rt::Within::Load(#key_ref, #body) => (#key_ref, #body),
                    };
            }
        });
        let load_body = match (&soft_timeout, self.plan.is_async) {
            (Some(_), _) => quote!(#body),
            (None, true) => quote!(#call),
            (None, false) => quote!(move || #call),
        };
        let entry = match (
            self.plan.value_mode,
            shared && self.plan.timeout_nanos.is_some(),
        ) {
            (ValueMode::Whole, true) => quote!(soft_timeout_shared),
            (ValueMode::OkOnly, true) => quote!(soft_timeout_shared_ok),
            (ValueMode::SomeOnly, true) => quote!(soft_timeout_shared_some),
            (_, false) => entry,
        };
        let load = if self.plan.is_async {
            quote_spanned! {output_span=>
                #rt_at_output::#entry(#load_cache(), #site(), #key_ref, #lifetime #load_body).await
            }
        } else {
            quote_spanned! {output_span=>
                #rt_at_output::#entry(#cache(), #site(), #key_ref, #lifetime #load_body)
            }
        };
        let lookup = quote_spanned! {output_span=>
            #rt_at_output::lookup(#cache(), #namespace(), &#key_ref)
        };
        let lookup_arms = if self.plan.refresh_nanos.is_some() {
            let refresh = match (self.plan.value_mode, self.plan.is_async) {
                (ValueMode::Whole, true) if shared => quote!(refresh_shared),
                (ValueMode::OkOnly, true) if shared => quote!(refresh_shared_ok),
                (ValueMode::SomeOnly, true) if shared => quote!(refresh_shared_some),
                (ValueMode::Whole, true) => quote!(refresh),
                (ValueMode::OkOnly, true) => quote!(refresh_ok),
                (ValueMode::SomeOnly, true) => quote!(refresh_some),
                (ValueMode::Whole, false) => quote!(refresh_blocking),
                (ValueMode::OkOnly, false) => quote!(refresh_ok_blocking),
                (ValueMode::SomeOnly, false) => quote!(refresh_some_blocking),
            };
            let reload = if self.plan.is_async {
                quote!(#call)
            } else {
                quote!(move || #call)
            };
            // A due value is returned at once; the body, its arguments moved
            // in, reloads it in the background.
            quote_spanned! {output_span=>
                match #rt_at_output::lookup_refreshing(#cache(), #namespace(), &#key_ref) {
                    #rt::RefreshLookup::Hit(#hit) => return #hit_value,
                    #rt::RefreshLookup::Due(#hit, #key_ref) => {
                        #rt_at_output::#refresh(#load_cache(), #site(), #key_ref, #lifetime #reload);
                        return #hit_value;
                    }
                    #rt::RefreshLookup::Miss(#key_ref) => #key_ref,
                }
            }
        } else {
            quote! {
                match #lookup {
                    #rt::Lookup::Hit(#hit) => return #hit_value,
                    #rt::Lookup::Miss(#key_ref) => #key_ref,
                }
            }
        };
        let hint = (!self.plan.associated()).then(|| {
            let hint = self.free_hint();
            quote!(let () = #hint;)
        });
        // The hit path is synchronous and comes first: a hit never builds the
        // body's future or the loading state machine. The encoded key lives
        // in a block that ends before any `.await`: left in the fn's scope it
        // would be held across the load's await, so an async fn's future
        // would carry its buffer and the hit would build it there.
        quote! {
            #(#attrs)*
            #vis #sig {
                #hint
                let #key_ref = {
                    #key
                    #lookup_arms
                };
                #soft_timeout
                #load
            }
        }
    }

    /// The user's signature with every parameter bound to a plain name (no
    /// `mut`, no destructuring), so the wrapper can pass them on.
    pub(crate) fn wrapper_sig(&self) -> syn::Signature {
        let mut sig = self.function.sig.clone();
        let typed = sig
            .inputs
            .iter_mut()
            .filter(|input| matches!(input, FnArg::Typed(_)));
        for (input, param) in typed.zip(&self.plan.params) {
            if let FnArg::Typed(typed) = input {
                *typed.pat = Pat::Ident(PatIdent {
                    attrs: Vec::new(),
                    by_ref: None,
                    mutability: None,
                    ident: param.ident.clone(),
                    subpat: None,
                });
            }
        }
        if let Some(FnArg::Receiver(receiver)) = sig.inputs.first_mut() {
            receiver.mutability = None;
        }
        sig
    }

    /// `__memo_body_f(args)`: the user's body, called with the wrapper's
    /// bindings. The same tokens work from the wrapper and the companions:
    /// both sit beside the body function.
    pub(crate) fn body_call(&self) -> TokenStream {
        let body = self.body_ident();
        let receiver = self.plan.receiver.as_ref().map(|_| quote!(self,));
        let params = self.plan.params.iter().map(|p| &p.ident);
        let call = if self.plan.associated() {
            quote!(Self::#body(#receiver #(#params),*))
        } else {
            quote!(#body(#(#params),*))
        };
        if matches!(self.function.sig.safety, syn::Safety::Unsafe(_)) {
            quote!(unsafe { #call })
        } else {
            call
        }
    }

    /// The user's function under a hidden name, exactly as written.
    fn body_fn(&self) -> TokenStream {
        let function = self.function;
        let inherited = &self.inherited_attrs;
        let inner_attrs = function
            .attrs
            .iter()
            .filter(|attr| !matches!(attr.style, AttrStyle::Outer));
        let mut sig = function.sig.clone();
        sig.ident = self.body_ident();
        let stmts = &function.block.stmts;
        quote! {
            #(#inherited)*
            #[doc(hidden)]
            #[allow(dead_code)]
            #sig {
                #(#inner_attrs)*
                #(#stmts)*
            }
        }
    }
}

/// The same tokens, all at `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            token.set_span(span);
            token
        })
        .collect()
}
