use memo_runtime::cached;

#[cached(shared)]
fn price(sku: u32) -> u64 {
    u64::from(sku)
}

fn main() {}
