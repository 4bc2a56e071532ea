use memo_runtime::cached;

struct Shop;

impl Shop {
    #[cached(shared, skip(self))]
    async fn price(&self, sku: u32) -> u64 {
        u64::from(sku)
    }
}

fn main() {}
