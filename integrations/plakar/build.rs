//! Compiles the protocol definitions in `proto/` with protox (a protobuf compiler in Rust), so a
//! fresh machine builds the plugin without a system `protoc`, then generates prost messages and
//! tonic client and server stubs from the descriptor set.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/connectors.proto",
        "proto/importer.proto",
        "proto/exporter.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
