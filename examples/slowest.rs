use cache_compat::runtime::load::{self, LoadConfig, Outcome};
use cache_compat::runtime::{Runtime, render};
use std::io::BufRead;
fn main() {
    let f = std::fs::File::open("corpora/pickles.jsonl").unwrap();
    let mut times = vec![];
    for line in std::io::BufReader::new(f).lines() {
        let v: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        let h = v["pickle"].as_str().unwrap();
        let data: Vec<u8> = (0..h.len() / 2)
            .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let t = std::time::Instant::now();
        let r = load::load(&data, Runtime::new(3, 13), &LoadConfig::default());
        if let Outcome::Loaded { heap, root } = &r.outcome {
            let _ = render::render(heap, *root, Runtime::new(3, 13));
        }
        times.push((
            t.elapsed().as_secs_f64(),
            v["id"].as_str().unwrap().to_string(),
        ));
    }
    times.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    for t in times.iter().take(10) {
        println!("{:.3} {}", t.0, t.1);
    }
    println!("total {:.2}", times.iter().map(|t| t.0).sum::<f64>());
}
