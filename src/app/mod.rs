//! The composition root: the only layer that knows every other. It loads
//! the configuration (`config`, composing each layer's own settings),
//! parses the command line (`cli`), starts the server (`serve`), and runs
//! the operator's commands on a stopped server's data dir (`commands`).

pub mod cli;
pub mod commands;
pub mod config;
pub mod serve;
