//! Writes the expansion.
//!
//! Input:
//!
//! ```text
//! #[cached(ttl = 60, skip(pool))]
//! pub async fn fetch_user(id: u64, pool: &Pool) -> Result<User, Error> { BODY }
//! ```
//!
//! Output (for a free function; methods get `fetch_user_invalidate`-style
//! associated companions instead of the module):
//!
//! ```text
//! pub async fn fetch_user(id: u64, pool: &Pool) -> Result<User, Error> {
//!     static SITE: Site = Site { namespace: "crate::path::fetch_user", ttl: Some(60 s) };
//!     let key = encode(&(key_arg(&id),));
//!     memoize_ok(fetch_user::cache(), &SITE, key, __memo_body_fetch_user(id, pool)).await
//! }
//! async fn __memo_body_fetch_user(id: u64, pool: &Pool) -> Result<User, Error> { BODY }
//! pub mod fetch_user { use super::*; pub fn cache() ...; pub async fn invalidate(id: u64) ... }
//! ```
//!
//! The body stays in a function of its own with the user's signature, so
//! type errors and `?` in it are checked against the declared return type and
//! point into the body. Generated names live at `Span::mixed_site()` and every
//! runtime item is named through `memo_runtime::__private`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{AttrStyle, Attribute, FnArg, Ident, ItemFn, Pat, PatIdent, Path, ReturnType};

use crate::args::Args;
use crate::validate::{Plan, ValueMode};

/// The pieces every generated function needs.
pub(crate) struct Ctx<'a> {
    pub(crate) function: &'a ItemFn,
    pub(crate) args: &'a Args,
    pub(crate) plan: &'a Plan,
    /// `::memo_runtime::__private`, or the `crate = ...` override's.
    pub(crate) rt: TokenStream,
    /// Attributes that must follow the function to every generated item:
    /// `cfg` and lint levels.
    pub(crate) inherited_attrs: Vec<&'a Attribute>,
}

pub(crate) fn expand(function: &ItemFn, args: &Args, plan: &Plan) -> TokenStream {
    let krate: Path = args
        .krate
        .clone()
        .unwrap_or_else(|| syn::parse_quote!(::memo_runtime));
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
        args,
        plan,
        rt: quote!(#krate::__private),
        inherited_attrs,
    };
    let wrapper = ctx.wrapper();
    let body = ctx.body_fn();
    let companions = if plan.associated {
        ctx.associated_companions()
    } else {
        ctx.companion_module()
    };
    quote! {
        #wrapper
        #body
        #companions
    }
}

impl Ctx<'_> {
    pub(crate) fn ident(&self) -> &Ident {
        &self.function.sig.ident
    }

    pub(crate) fn body_ident(&self) -> Ident {
        format_ident!("__memo_body_{}", self.ident())
    }

    /// A companion's name: `cache` in the module of a free function,
    /// `fetch_user_cache` beside a method.
    pub(crate) fn companion(&self, name: &str) -> Ident {
        if self.plan.associated {
            format_ident!("{}_{}", self.ident(), name)
        } else {
            format_ident!("{}", name)
        }
    }

    /// The static describing the function, declared where it is used.
    pub(crate) fn site(&self, from_module: bool) -> TokenStream {
        let rt = &self.rt;
        let ident = self.ident();
        let ttl = match &self.args.ttl {
            Some(ttl) => {
                let nanos = ttl.value;
                quote!(#rt::Some(#rt::Duration::from_nanos(#nanos)))
            }
            None => quote!(#rt::None),
        };
        // Inside the companion module `module_path!()` already ends in the
        // function's name; elsewhere it is appended.
        let namespace = if from_module {
            quote!(#rt::module_path!())
        } else {
            quote!(#rt::concat!(#rt::module_path!(), "::", #rt::stringify!(#ident)))
        };
        quote_spanned! {Span::mixed_site()=>
            static __MEMO_SITE: #rt::Site = #rt::Site { namespace: #namespace, ttl: #ttl };
        }
    }

    /// How generated code reaches the cache.
    pub(crate) fn cache_call(&self, from_module: bool) -> TokenStream {
        let ident = self.ident();
        let cache = self.companion("cache");
        if self.plan.associated {
            quote!(Self::#cache())
        } else if from_module {
            quote!(#cache())
        } else {
            quote!(#ident::#cache())
        }
    }

    /// `encode(&(parts...))`: the key of one call. The wrapper and the
    /// companions build it with these same tokens, so they always agree.
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
        if self.plan.associated {
            parts.push(quote!(#builder.part(#rt::type_name::<Self>());));
        }
        // Each argument's part is spanned at the argument: a missing
        // `Serialize` is reported there.
        if let Some(expr) = &self.args.key {
            parts.push(quote_spanned!(expr.span()=> #builder.part(&(#expr));));
        } else {
            if let Some(receiver) = self.plan.receiver.as_ref().filter(|r| !r.skipped) {
                let self_token = quote_spanned!(receiver.span=> self);
                parts.push(quote_spanned!(receiver.span=> #builder.part(&#self_token);));
            }
            for param in self.plan.params.iter().filter(|p| !p.skipped) {
                let ident = &param.ident;
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
        let site = self.site(false);
        let key = self.key();
        let cache = self.cache_call(false);
        let call = self.body_call(false);
        let hit = Ident::new("__memo_hit", Span::mixed_site());
        let (entry, hit_value) = match self.plan.value_mode {
            ValueMode::Whole => (quote!(memoize), quote!(#hit)),
            ValueMode::OkOnly => (quote!(memoize_ok), quote!(#rt::Result::Ok(#hit))),
        };
        // Errors about the value (not `Clone`...) point at the return type.
        let output_span = match &sig.output {
            ReturnType::Type(_, ty) => ty.span(),
            ReturnType::Default => sig.ident.span(),
        };
        // The whole path, `::memo_runtime::__private` included, carries the
        // return type's span, so the call's errors are reported there.
        let rt_at_output = respan(rt.clone(), output_span);
        let site_ref = Ident::new("__MEMO_SITE", Span::mixed_site());
        let key_ref = Ident::new("__memo_key", Span::mixed_site());
        // Whole calls at the return type: an error's span runs from the first
        // token of the call to its closing parenthesis.
        let load = quote_spanned! {output_span=>
            #rt_at_output::#entry(#cache, &#site_ref, #key_ref, #call).await
        };
        let lookup = quote_spanned! {output_span=>
            #rt_at_output::lookup(#cache, &#site_ref, &#key_ref)
        };
        // The hit path is synchronous and comes first: a hit never builds the
        // body's future or the loading state machine.
        quote! {
            #(#attrs)*
            #vis #sig {
                #site
                #key
                let #key_ref = match #lookup {
                    #rt::Lookup::Hit(#hit) => return #hit_value,
                    #rt::Lookup::Miss(#key_ref) => #key_ref,
                };
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
    /// bindings.
    pub(crate) fn body_call(&self, from_module: bool) -> TokenStream {
        let body = self.body_ident();
        let receiver = self.plan.receiver.as_ref().map(|_| quote!(self,));
        let params = self.plan.params.iter().map(|p| &p.ident);
        let call = if self.plan.associated {
            quote!(Self::#body(#receiver #(#params),*))
        } else if from_module {
            quote!(super::#body(#(#params),*))
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
