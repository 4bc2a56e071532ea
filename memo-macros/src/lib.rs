//! The `#[cached]` attribute. Use it through `memo-runtime`, which re-exports it.
use proc_macro::TokenStream;

/// See `memo_runtime::cached`.
#[proc_macro_attribute]
pub fn cached(_args: TokenStream, item: TokenStream) -> TokenStream {
    item
}
