use memo_runtime::cached;

#[derive(Clone)]
struct Price(u64);

#[cached(shared)]
async fn price(sku: u32) -> Price {
    Price(u64::from(sku))
}

fn main() {}
