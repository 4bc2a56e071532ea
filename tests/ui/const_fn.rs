use memo_runtime::cached;

#[cached]
const fn double(n: u32) -> u32 {
    n * 2
}

fn main() {}
