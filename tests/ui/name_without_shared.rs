use memo_runtime::cached;

#[cached(name = "price", version = 2)]
async fn price(sku: u32) -> u64 {
    u64::from(sku)
}

fn main() {}
