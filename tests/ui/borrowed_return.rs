use memo_runtime::cached;

#[cached]
async fn first_word(text: &str) -> &str {
    text.split(' ').next().unwrap_or("")
}

#[cached]
fn label(id: u32) -> &'static str {
    if id == 0 { "zero" } else { "many" }
}

fn main() {}
