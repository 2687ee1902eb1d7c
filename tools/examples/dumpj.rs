fn main() {
    let a: Vec<u64> = std::env::args()
        .skip(1)
        .map(|x| x.parse().unwrap())
        .collect();
    for i in a {
        let s = diofuzz::generators::flags::generate_jflag(1, i);
        println!("{i}: {}", serde_json::to_string(&s).unwrap());
        match diofuzz_tools::live::plan::plan(&s) {
            Ok(p) => println!(
                "plan: steps {:?}\n call.pages {:?} ops {:?} open_flags direct={} key {:?}",
                p.steps, p.call.pages, p.call.after_open.jflag_ops, p.call.direct, p.key
            ),
            Err(e) => println!("refused {e}"),
        }
    }
}
