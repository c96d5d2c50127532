# What `plakar pkg build recipe.yaml` runs in a clone of a release tag (`make -C DIR [EXT=.exe]`):
# the release binary beside the manifest, then manifest.yaml and the config schemas generated
# from plugin.toml by that binary, so the package says exactly what the code accepts. For
# everything else, use cargo directly (README).
CARGO ?= cargo
EXT ?=

all: secretsnap$(EXT) manifest.yaml

secretsnap$(EXT):
	$(CARGO) build --release --locked --bin secretsnap
	cp target/release/secretsnap$(EXT) secretsnap$(EXT)

manifest.yaml: secretsnap$(EXT) plugin.toml
	./secretsnap$(EXT) plakar manifest --out .

clean:
	rm -f secretsnap$(EXT) manifest.yaml importer.schema.json exporter.schema.json

.PHONY: all clean
