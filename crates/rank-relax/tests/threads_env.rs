//! `RANK_RELAX_NUM_THREADS` sets the default thread count; `set_num_threads` overrides it and
//! `0` restores it. (Its own test binary: the default is read once per process.)

use rank_relax::{num_threads, set_num_threads};

#[test]
fn env_var_sets_the_default_and_set_num_threads_caps_it() {
    std::env::set_var("RANK_RELAX_NUM_THREADS", "3");
    assert_eq!(num_threads(), 3);
    set_num_threads(1);
    assert_eq!(num_threads(), 1);
    set_num_threads(5);
    assert_eq!(num_threads(), 5);
    set_num_threads(0);
    assert_eq!(num_threads(), 3);
}
