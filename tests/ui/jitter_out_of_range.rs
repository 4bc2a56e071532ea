use memo_runtime::cached;

#[cached(ttl = 60, jitter = 1.5)]
fn rate(currency: String) -> f64 {
    currency.len() as f64
}

#[cached(ttl = 60, stale = -3)]
fn fee(currency: String) -> f64 {
    currency.len() as f64
}

fn main() {}
