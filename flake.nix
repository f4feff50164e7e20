{
  description = "Task management API: static musl binaries and scratch OCI images of the auth and task services";

  inputs = {
    # A release branch; flake.lock pins the commit (docs/nix.md).
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
    # Upstream Rust release binaries, with the musl standard library of each target.
    rust-overlay = {
      url = "github:oxalica/rust-overlay";
      inputs.nixpkgs.follows = "nixpkgs";
    };
  };

  outputs =
    {
      self,
      nixpkgs,
      rust-overlay,
    }:
    let
      inherit (nixpkgs) lib;
      forAllSystems = lib.genAttrs [
        "x86_64-linux"
        "aarch64-linux"
      ];
      rustVersion = "1.95.0"; # at or above `rust-version` in Cargo.toml
      inherit ((builtins.fromTOML (builtins.readFile ./Cargo.toml)).workspace.package) version repository;
      revision = self.rev or self.dirtyRev or "dirty";
      tag = "${version}-${self.shortRev or self.dirtyShortRev or "dirty"}";

      # What cargo reads, so that editing docs or manifests does not rebuild the binaries.
      src = lib.fileset.toSource {
        root = ./.;
        fileset = lib.fileset.unions [
          ./Cargo.toml
          ./Cargo.lock
          ./src
          ./musl-memcpy
          ./platform
          ./token-contract
          ./db-schema
          ./auth
          ./task
          ./testkit # a workspace member: cargo reads its manifest even to build auth and task
          ./openapi
        ];
      };

      # buildRustPackage derives meta.platforms from these; rust-overlay's toolchain may lack them.
      withPlatforms =
        toolchain:
        toolchain
        // {
          targetPlatforms = toolchain.targetPlatforms or lib.platforms.linux;
          badTargetPlatforms = toolchain.badTargetPlatforms or [ ];
        };

      # Both services, statically linked against musl for the platform of `hostPkgs` (a
      # pkgsStatic set, native or cross), from one cargo invocation: one fat-LTO build per arch.
      services =
        hostPkgs:
        let
          toolchain = withPlatforms (
            (rust-overlay.lib.mkRustBin { } hostPkgs.buildPackages).stable.${rustVersion}.minimal.override {
              targets = [ hostPkgs.stdenv.hostPlatform.rust.rustcTarget ];
            }
          );
        in
        (hostPkgs.makeRustPlatform {
          rustc = toolchain;
          cargo = toolchain;
        }).buildRustPackage
          {
            pname = "task-management-services";
            inherit version src;
            cargoLock.lockFile = ./Cargo.lock; # crates fetched by Cargo.lock's checksums
            cargoBuildFlags = [
              "-p"
              "auth"
              "-p"
              "task"
            ];
            doCheck = false; # `checks.tests` runs the suite
            # aws-lc-sys may fall back to CMake; it must not take over the configure phase.
            nativeBuildInputs = with hostPkgs.buildPackages; [
              cmake
              perl
              nukeReferences
            ];
            dontUseCmakeConfigure = true;
            # Panic messages embed the vendored crates' store paths; the image must hold none.
            postFixup = "nuke-refs $out/bin/*";
            allowedReferences = [ ];
            meta.platforms = lib.platforms.linux;
          };

      # One service's binary on its own, so that each image holds only its own service.
      binary =
        pkgs: built: name:
        pkgs.runCommand "${name}-${version}" {
          allowedReferences = [ ];
          meta.mainProgram = name;
        } "install -Dm755 ${built}/bin/${name} $out/bin/${name}";

      # FROM scratch: the binary, nixpkgs' passwd/group (root, nobody 65534) and CA bundle, a
      # /data for SQLite owned by 65534 and a /tmp. No shell, no libc.
      image =
        pkgs: bin: name: architecture:
        pkgs.dockerTools.buildLayeredImage {
          inherit name tag architecture;
          contents = [
            bin
            pkgs.dockerTools.fakeNss
            pkgs.dockerTools.caCertificates
          ];
          extraCommands = "mkdir -p data tmp && chmod 1777 tmp";
          fakeRootCommands = "chown 65534:65534 data && chmod 0750 data";
          config = {
            Entrypoint = [ (lib.getExe bin) ];
            User = "65534:65534";
            WorkingDir = "/"; # the default DATABASE_URL is sqlite://data/…, i.e. /data
            ExposedPorts."3000/tcp" = { };
            Env = [
              "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"
              "PORT=3000"
            ];
            Labels = {
              "org.opencontainers.image.title" = name;
              "org.opencontainers.image.source" = repository;
              "org.opencontainers.image.version" = version;
              "org.opencontainers.image.revision" = revision;
              "org.opencontainers.image.licenses" = "MIT";
            };
          };
        };

      devToolchain =
        pkgs:
        withPlatforms (
          (rust-overlay.lib.mkRustBin { } pkgs).stable.${rustVersion}.default.override {
            targets = [
              "x86_64-unknown-linux-musl"
              "aarch64-unknown-linux-musl"
            ];
          }
        );
    in
    {
      # auth, task (+ -arm64) and auth-image, task-image (+ -arm64), generated per service.
      packages = forAllSystems (
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          isArm = pkgs.stdenv.hostPlatform.isAarch64;
          native = services pkgs.pkgsStatic;
          arm = if isArm then native else services pkgs.pkgsCross.aarch64-multiplatform-musl.pkgsStatic;
          perService =
            name:
            let
              bin = binary pkgs native name;
              armBin = binary pkgs arm name;
            in
            {
              ${name} = bin;
              "${name}-arm64" = armBin;
              "${name}-image" = image pkgs bin name (if isArm then "arm64" else "amd64");
              "${name}-image-arm64" = image pkgs armBin name "arm64";
            };
        in
        perService "auth" // perService "task" // { default = native; }
      );

      checks = forAllSystems (
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          toolchain = devToolchain pkgs;
          # Debug builds of the whole workspace with its tests, the README and the manifests.
          check =
            pname: attrs:
            (pkgs.makeRustPlatform {
              rustc = toolchain;
              cargo = toolchain;
            }).buildRustPackage
              (
                {
                  inherit pname version;
                  src = lib.fileset.toSource {
                    root = ./.;
                    fileset = lib.fileset.unions [
                      (lib.fileset.fromSource src)
                      ./tests
                      ./README.md
                      ./copilot
                    ];
                  };
                  cargoLock.lockFile = ./Cargo.lock;
                  nativeBuildInputs = [
                    pkgs.cmake
                    pkgs.perl
                  ];
                  dontUseCmakeConfigure = true;
                  buildType = "debug";
                  installPhase = "touch $out";
                }
                // attrs
              );
        in
        {
          clippy = check "task-management-clippy" {
            buildPhase = "cargo clippy --offline --locked --workspace --all-targets -- -D warnings";
            doCheck = false;
          };
          # On SQLite, in the sandbox (loopback only). The tests that need moto_server (PyPI),
          # Chromium (npm) or the CDK app's node_modules (npm; cdk/ is not in the source set)
          # run in .ci/run instead.
          tests = check "task-management-tests" {
            useNextest = true;
            cargoTestFlags = [
              "--workspace"
              "-E"
              "not (binary(browser) | binary(cdk_matches_copilot) | test(signing_key_and_database_from_secrets_manager))"
            ];
            nativeCheckInputs = [
              pkgs.curl
              pkgs.jq
            ];
          };
          inherit (self.packages.${system}) auth-image task-image;
        }
      );

      devShells = forAllSystems (
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          muslCc = "${pkgs.pkgsStatic.stdenv.cc}/bin/${pkgs.pkgsStatic.stdenv.cc.targetPrefix}cc";
        in
        {
          default = pkgs.mkShell {
            packages = with pkgs; [
              (devToolchain pkgs)
              cargo-nextest
              # The CDK app in cdk/ (npm ci, npx cdk synth|deploy; docs/deploy.md). copilot-cli is
              # gone: nixpkgs removed it on 2026-05-11 (upstream end of life, aliases.nix throws).
              nodejs
              skopeo
              awscli2
              postgresql
              sqlite
              cmake
              perl
              pkgsStatic.stdenv.cc
            ];
            # `cargo build --target x86_64-unknown-linux-musl` with the static musl toolchain.
            env = lib.optionalAttrs (system == "x86_64-linux") {
              CC_x86_64_unknown_linux_musl = muslCc;
              CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER = muslCc;
            };
          };
        }
      );

      # nix run .#publish -- <auth|task> <image-archive> [tag]: see nix/publish.sh.
      apps = forAllSystems (system: {
        publish = {
          type = "app";
          program = lib.getExe (
            nixpkgs.legacyPackages.${system}.writeShellApplication {
              name = "publish";
              runtimeInputs = with nixpkgs.legacyPackages.${system}; [
                skopeo
                awscli2
                coreutils
                gnused
              ];
              runtimeEnv.DEFAULT_TAG = tag;
              text = builtins.readFile ./nix/publish.sh;
            }
          );
        };
      });
    };
}
