//! One macro that forwards a store trait through `Arc<T>` and `Box<T>`.

/// Implements an async store trait for `Arc<T>` and `Box<T>` (with `T: Trait + ?Sized`) by
/// forwarding every listed method, so `Arc<dyn PrimaryStore>`, `Arc<MemoryGraph>` and
/// `Box<dyn GraphStore>` are stores themselves (object_store's `as_ref_impl!`). List *every*
/// method, provided ones too: `#[deny(clippy::missing_trait_methods)]` on the generated impls
/// makes clippy refuse a list that would let an inner override be skipped.
macro_rules! forward_through_pointers {
    ($trait:ident { $( fn $method:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty; )* }) => {
        forward_through_pointers!(@impl Arc, $trait { $( fn $method(&self $(, $arg: $ty)*) -> $ret; )* });
        forward_through_pointers!(@impl Box, $trait { $( fn $method(&self $(, $arg: $ty)*) -> $ret; )* });
    };
    (@ptr Arc, $t:ident) => { std::sync::Arc<$t> };
    (@ptr Box, $t:ident) => { Box<$t> };
    (@impl $ptr:ident, $trait:ident { $( fn $method:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )* }) => {
        #[async_trait::async_trait]
        #[deny(clippy::missing_trait_methods)]
        impl<T: $trait + ?Sized> $trait for forward_through_pointers!(@ptr $ptr, T) {
            $(
                async fn $method(&self $(, $arg: $ty)*) -> $ret {
                    (**self).$method($($arg),*).await
                }
            )*
        }
    };
}

pub(crate) use forward_through_pointers;
