//! Hash maps for the hot paths (the runtime models, the renderer, the verdict cache): foldhash,
//! several times cheaper than std's SipHash on the small keys these maps hold. Many keys come from
//! untrusted pickles (text memo, dict keys), so the hasher stays seeded per process
//! (`foldhash::fast::RandomState`), never a fixed-seed hash an input could collide on purpose.

pub type RandomState = foldhash::fast::RandomState;
pub type Map<K, V> = std::collections::HashMap<K, V, RandomState>;
pub type Set<K> = std::collections::HashSet<K, RandomState>;

/// An empty map.
pub fn map<K, V>() -> Map<K, V> {
    Map::default()
}
