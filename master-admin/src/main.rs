//! `master-admin`: the DBA's command line.
fn main() {
    println!("master-admin");
}
