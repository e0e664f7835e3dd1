//! `snap-cli`: the snap user's terminal menu (see issue: snap-cli).
fn main() {
    println!("snap-cli");
}
