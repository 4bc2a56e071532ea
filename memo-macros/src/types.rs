//! What the attribute reads off argument and return types: `&mut` hidden
//! anywhere in an argument, borrowed return values, `impl Trait` arguments,
//! and the shapes of `Result`, `Option` and `#[async_trait]`'s boxed futures.
//! The attribute sees tokens only, so each check is by syntax.

use syn::visit::{self, Visit};
use syn::{GenericArgument, Lifetime, PathArguments, ReturnType, Type, TypeReference};

/// Every `&mut` reference written inside `ty`, outermost first.
pub(crate) fn mut_references(ty: &Type) -> Vec<&TypeReference> {
    struct Finder<'ast>(Vec<&'ast TypeReference>);
    impl<'ast> Visit<'ast> for Finder<'ast> {
        fn visit_type_reference(&mut self, reference: &'ast TypeReference) {
            if reference.mutability.is_some() {
                self.0.push(reference);
            }
            visit::visit_type_reference(self, reference);
        }
    }
    let mut finder = Finder(Vec::new());
    finder.visit_type(ty);
    finder.0
}

/// Whether `impl Trait` appears anywhere in `ty`: then the argument's concrete
/// type is chosen by each caller and must be part of the key.
pub(crate) fn has_impl_trait(ty: &Type) -> bool {
    struct Finder(bool);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_impl_trait(&mut self, _: &'ast syn::TypeImplTrait) {
            self.0 = true;
        }
    }
    let mut finder = Finder(false);
    finder.visit_type(ty);
    finder.0
}

/// A borrow in the return type that is not `'static`: a reference with an
/// elided or named lifetime, or a named lifetime argument (`Cow<'a, str>`).
/// Returns the token to point at.
pub(crate) fn borrowed_part(ty: &Type) -> Option<proc_macro2::Span> {
    struct Finder(Option<proc_macro2::Span>);
    impl<'ast> Visit<'ast> for Finder {
        fn visit_type_reference(&mut self, reference: &'ast TypeReference) {
            let is_static = reference
                .lifetime
                .as_ref()
                .is_some_and(|lifetime| lifetime.ident == "static");
            if !is_static && self.0.is_none() {
                self.0 = Some(reference.and_token.span);
            }
            visit::visit_type_reference(self, reference);
        }
        fn visit_lifetime(&mut self, lifetime: &'ast Lifetime) {
            if lifetime.ident != "static" && self.0.is_none() {
                self.0 = Some(lifetime.apostrophe);
            }
        }
        // Trait objects and `impl Trait` carry bounds like `+ 'a`, which
        // say nothing about borrowing from the arguments by themselves.
        fn visit_type_param_bound(&mut self, _: &'ast syn::TypeParamBound) {}
    }
    let mut finder = Finder(None);
    finder.visit_type(ty);
    finder.0
}

/// The last path segment of the return type, if it is a plain path.
fn last_segment(output: &ReturnType) -> Option<&syn::PathSegment> {
    let ReturnType::Type(_, ty) = output else {
        return None;
    };
    match &**ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    }
}

/// `Result<..>` (any path ending in `Result`).
pub(crate) fn returns_result(output: &ReturnType) -> bool {
    last_segment(output).is_some_and(|segment| segment.ident == "Result")
}

/// `Option<..>` (any path ending in `Option`).
pub(crate) fn returns_option(output: &ReturnType) -> bool {
    last_segment(output).is_some_and(|segment| segment.ident == "Option")
}

/// `Pin<Box<dyn Future<..> + ..>>`: what `#[async_trait]` turns an
/// `async fn` into. Seeing it means `#[async_trait]` ran before `#[cached]`.
pub(crate) fn is_boxed_future(output: &ReturnType) -> bool {
    let Some(pin) = last_segment(output).filter(|segment| segment.ident == "Pin") else {
        return false;
    };
    let Some(Type::Path(boxed)) = only_type_argument(&pin.arguments) else {
        return false;
    };
    let Some(boxed) = boxed.path.segments.last().filter(|s| s.ident == "Box") else {
        return false;
    };
    match only_type_argument(&boxed.arguments) {
        Some(Type::TraitObject(object)) => object.bounds.iter().any(|bound| match bound {
            syn::TypeParamBound::Trait(bound) => bound
                .path
                .segments
                .last()
                .is_some_and(|segment| segment.ident == "Future"),
            _ => false,
        }),
        _ => false,
    }
}

fn only_type_argument(arguments: &PathArguments) -> Option<&Type> {
    let PathArguments::AngleBracketed(arguments) = arguments else {
        return None;
    };
    arguments.args.iter().find_map(|argument| match argument {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    #[test]
    fn finds_mut_behind_other_types() {
        let ty: Type = parse_quote!(Option<(&mut Vec<u8>, u64)>);
        assert_eq!(mut_references(&ty).len(), 1);
        let ty: Type = parse_quote!(&'a Vec<&'b str>);
        assert!(mut_references(&ty).is_empty());
    }

    #[test]
    fn borrowed_returns_but_not_static_ones() {
        assert!(borrowed_part(&parse_quote!(&str)).is_some());
        assert!(borrowed_part(&parse_quote!(Cow<'a, str>)).is_some());
        assert!(borrowed_part(&parse_quote!(Vec<&'a str>)).is_some());
        assert!(borrowed_part(&parse_quote!(&'static str)).is_none());
        assert!(borrowed_part(&parse_quote!(Arc<str>)).is_none());
        assert!(borrowed_part(&parse_quote!(Box<dyn Fn() + Send + 'static>)).is_none());
    }

    #[test]
    fn recognises_async_trait_output() {
        let output: ReturnType = parse_quote!(
            -> ::core::pin::Pin<Box<dyn ::core::future::Future<Output = u64> + Send + 'async_trait>>
        );
        assert!(is_boxed_future(&output));
        assert!(!is_boxed_future(&parse_quote!(-> Pin<Box<u64>>)));
    }
}
