//! Dict keys that Python merges because they compare equal across types: an integral float and
//! the int of the same value (at any magnitude: 1.0 == 1 == True, 1e300 == int(1e300)), and keys
//! that only look alike (1e39 and 1e40 stay two). Oracle: the real interpreters load each pickle and
//! report how many items the dict has and its values in order; our load model must agree.

mod common;

use cache_compat::runtime::Runtime;
use cache_compat::runtime::load::{self, LoadConfig, Outcome};
use cache_compat::runtime::value::Node;
use std::process::Command;

const EXPRS: [&str; 9] = [
    "{1e39: 1, 1e40: 2}",
    "{1e300: 1, int(1e300): 2}",
    "{2.0**127: 1, 2**127: 2, 2.0**128: 3, 2**128 + 1: 4}",
    "{1.0: 1, 1: 2, True: 3}",
    "{-1e20: 1, -10**20: 2, -10**20 - 1: 3}",
    "{9.0e18: 1, 9 * 10**18: 2, 2.0**63: 3, 2**63: 4, -2.0**63: 5, -2**63: 6}",
    "{1.7976931348623157e308: 1, int(1.7976931348623157e308): 2}",
    "{0.0: 1, -0.0: 2, 0: 3, 0.5: 4}",
    "{(1.0, 2): 1, (1, 2.0): 2, frozenset([1.0]): 3, frozenset([1]): 4}",
];

#[test]
fn equal_keys_of_other_types_merge_as_in_python() {
    let mut compared = 0;
    for (v, dir) in [("2.7", "py2"), ("3.11", "py3")] {
        let py = common::interpreter(v);
        let script = "import pickle, sys, binascii\nfor e in sys.argv[1:]:\n    d = eval(e)\n    for p in range(3):\n        b = pickle.dumps(d, p)\n        sys.stdout.write('%s %s\\n' % (binascii.hexlify(b).decode(), ','.join(str(x) for x in pickle.loads(b).values())))\n";
        let out = Command::new(&py)
            .arg("-c")
            .arg(script)
            .args(EXPRS)
            .output()
            .expect("python");
        assert!(
            out.status.success(),
            "{dir}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let (hex, real) = line.split_once(' ').expect("two fields");
            let bytes = common::unhex(hex);
            let r = load::load(
                &bytes,
                Runtime::parse(v).expect("rt"),
                &LoadConfig::default(),
            );
            let Outcome::Loaded { heap, root } = r.outcome else {
                panic!("{v} {hex}: ours did not load: {:?}", r.outcome);
            };
            let Node::Dict(items) = heap.get(root) else {
                panic!("{v} {hex}: not a dict");
            };
            let ours: Vec<String> = items
                .iter()
                .map(|&(_, val)| match heap.get(val) {
                    Node::Int(n) | Node::Long(n) => n.to_string(),
                    other => format!("{other:?}"),
                })
                .collect();
            assert_eq!(ours.join(","), real, "{v} {hex}");
            compared += 1;
        }
    }
    println!("dict keys: {compared} pickles, ours = real");
    assert_eq!(compared, 2 * 3 * EXPRS.len());
}
