{
  description = "Task management API: static musl binaries and scratch OCI images for the auth and task services";

  inputs = {
    # A release branch, not unstable: `nix flake lock` records the exact commit in flake.lock and
    # `nix flake update` moves it (see docs/nix.md).
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

    # Prebuilt upstream Rust toolchains (the same rustc as rustup installs), with the musl
    # standard libraries for both architectures. nixpkgs' own rustc on a release branch can lag
    # behind the workspace's rust-version, and its musl/cross std has to be built from source.
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

      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f system);

      # One toolchain for the builds, the checks and the dev shell. Keep it at or above
      # `rust-version` in Cargo.toml.
      rustVersion = "1.95.0";

      cargoToml = builtins.fromTOML (builtins.readFile ./Cargo.toml);
      inherit (cargoToml.workspace.package) version repository;

      # Image metadata: the commit this flake was built from ("dirty" for an uncommitted tree).
      revision = self.rev or self.dirtyRev or "dirty";
      shortRevision = self.shortRev or self.dirtyShortRev or "dirty";
      imageTag = "${version}-${shortRevision}";

      # Only what cargo reads: editing docs or Copilot manifests does not rebuild the binaries.
      src = lib.fileset.toSource {
        root = ./.;
        fileset = lib.fileset.unions [
          ./Cargo.toml
          ./Cargo.lock
          ./src
          ./platform
          ./auth
          ./task
          # A workspace member: cargo loads every member's manifest, even to build two of them.
          ./testkit
          (lib.fileset.maybeMissing ./.cargo)
          (lib.fileset.maybeMissing ./openapi)
        ];
      };

      # The checks also read the root package's tests and what they check: the README's curl
      # session and the Copilot manifests.
      checkSrc = lib.fileset.toSource {
        root = ./.;
        fileset = lib.fileset.unions [
          (lib.fileset.fromSource src)
          ./tests
          ./README.md
          ./copilot
        ];
      };

      # buildRustPackage reads rustc.{targetPlatforms,badTargetPlatforms} for meta.platforms;
      # rust-overlay's toolchains do not necessarily carry them.
      withPlatformMeta =
        toolchain:
        toolchain
        // {
          targetPlatforms = toolchain.targetPlatforms or lib.platforms.linux;
          tier1TargetPlatforms = toolchain.tier1TargetPlatforms or lib.platforms.linux;
          badTargetPlatforms = toolchain.badTargetPlatforms or [ ];
        };

      # The services, statically linked against musl, for the platform of `hostPkgs` (a pkgsStatic
      # set: native, or cross from x86_64). Both binaries come from one cargo invocation, so the
      # fat-LTO release build runs once per architecture.
      mkServices =
        hostPkgs:
        let
          # The build platform's package set whose *target* is hostPkgs' platform: the toolchain
          # then propagates the static musl cc as the crate linker (see rust-overlay's
          # docs/cross_compilation.md), not the build platform's glibc cc.
          buildPkgs = hostPkgs.buildPackages;
          toolchain = withPlatformMeta (
            (rust-overlay.lib.mkRustBin { } buildPkgs).stable.${rustVersion}.minimal.override {
              targets = [ hostPkgs.stdenv.hostPlatform.rust.rustcTarget ];
            }
          );
          rustPlatform = hostPkgs.makeRustPlatform {
            rustc = toolchain;
            cargo = toolchain;
          };
        in
        rustPlatform.buildRustPackage {
          pname = "task-management-services";
          inherit version src;

          # Every crate comes from Cargo.lock's checksums: no network, no vendor hash to maintain.
          cargoLock.lockFile = ./Cargo.lock;

          cargoBuildFlags = [
            "-p"
            "auth"
            "-p"
            "task"
          ];
          # The release profile of Cargo.toml applies (fat LTO, one codegen unit, stripped,
          # panic = unwind). Tests run in `checks`; cross-built aarch64 tests cannot run here.
          doCheck = false;

          # C in the dependency graph: libsqlite3-sys (bundled SQLite), aws-lc-sys (AWS SDK TLS)
          # and ring. They compile with the stdenv's musl cross compiler, which the cargo hooks
          # export as CC_<target>/CXX_<target>; build scripts use the build platform's cc.
          # aws-lc-sys falls back to CMake for some configurations, so CMake is available but
          # must not take over the configure phase.
          nativeBuildInputs = [
            buildPkgs.cmake
            buildPkgs.perl
            buildPkgs.nukeReferences
          ];
          dontUseCmakeConfigure = true;

          # Panic locations embed the vendored crates' /nix/store paths; without this the whole
          # vendor directory would become a runtime dependency and land in the image.
          postFixup = ''
            nuke-refs $out/bin/*
          '';
          # The binaries must depend on nothing in the store: that is what makes a scratch image work.
          allowedReferences = [ ];

          meta = {
            description = "auth and task services, static musl release build";
            license = lib.licenses.mit;
            platforms = lib.platforms.linux;
          };
        };

      # One binary on its own, so each image holds only its service.
      mkBinary =
        pkgs: services: name:
        pkgs.runCommand "${name}-${version}"
          {
            allowedReferences = [ ];
            meta.mainProgram = name;
          }
          ''
            install -Dm755 ${services}/bin/${name} $out/bin/${name}
          '';

      # A scratch image: the static binary, a CA bundle, passwd/group for nobody (65534), a
      # writable /data for the embedded SQLite default and a /tmp. Nothing else: no shell, no libc.
      # The build host's dockerTools assembles every architecture: the binaries are static and
      # reference nothing in the store, so only the `architecture` field differs.
      mkImage =
        {
          pkgs,
          binary,
          name,
          architecture,
        }:
        pkgs.dockerTools.buildLayeredImage {
          inherit name architecture;
          tag = imageTag;

          # The binary's store path is its own layer; the files below go into the customisation layer.
          contents = [ binary ];

          extraCommands = ''
            mkdir -p etc/ssl/certs data tmp
            cp ${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt etc/ssl/certs/ca-certificates.crt
            chmod 0444 etc/ssl/certs/ca-certificates.crt
            printf 'root:x:0:0:root:/:/sbin/nologin\nnobody:x:65534:65534:nobody:/data:/sbin/nologin\n' > etc/passwd
            printf 'root:x:0:\nnobody:x:65534:\n' > etc/group
            chmod 1777 tmp
          '';
          fakeRootCommands = ''
            chown 65534:65534 data
            chmod 0750 data
          '';

          config = {
            Entrypoint = [ "${binary}/bin/${name}" ];
            User = "65534:65534";
            # The default DATABASE_URL is sqlite://data/…, relative to this directory: /data.
            WorkingDir = "/";
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

      perSystem =
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};

          # Native static build for this host.
          native = mkServices pkgs.pkgsStatic;
          # arm64 (Graviton Fargate), cross-compiled when the host is x86_64.
          armPkgs =
            if pkgs.stdenv.hostPlatform.isAarch64 then
              pkgs.pkgsStatic
            else
              pkgs.pkgsCross.aarch64-multiplatform-musl.pkgsStatic;
          arm = mkServices armPkgs;

          nativeArch = if pkgs.stdenv.hostPlatform.isAarch64 then "arm64" else "amd64";
        in
        {
          inherit
            pkgs
            native
            arm
            nativeArch
            ;
          devToolchain = withPlatformMeta (
            (rust-overlay.lib.mkRustBin { } pkgs).stable.${rustVersion}.default.override {
              extensions = [ "rust-src" ];
              targets = [
                "x86_64-unknown-linux-musl"
                "aarch64-unknown-linux-musl"
              ];
            }
          );
        };
    in
    {
      packages = forAllSystems (
        system:
        let
          s = perSystem system;
          inherit (s) pkgs;
          auth = mkBinary pkgs s.native "auth";
          task = mkBinary pkgs s.native "task";
          authArm = mkBinary pkgs s.arm "auth";
          taskArm = mkBinary pkgs s.arm "task";
        in
        {
          inherit auth task;
          auth-arm64 = authArm;
          task-arm64 = taskArm;

          auth-image = mkImage {
            inherit pkgs;
            binary = auth;
            name = "auth";
            architecture = s.nativeArch;
          };
          task-image = mkImage {
            inherit pkgs;
            binary = task;
            name = "task";
            architecture = s.nativeArch;
          };
          auth-image-arm64 = mkImage {
            inherit pkgs;
            binary = authArm;
            name = "auth";
            architecture = "arm64";
          };
          task-image-arm64 = mkImage {
            inherit pkgs;
            binary = taskArm;
            name = "task";
            architecture = "arm64";
          };

          default = s.native;
        }
      );

      checks = forAllSystems (
        system:
        let
          s = perSystem system;
          inherit (s) pkgs;
          rustPlatform = pkgs.makeRustPlatform {
            rustc = s.devToolchain;
            cargo = s.devToolchain;
          };
          common = {
            inherit version;
            src = checkSrc;
            cargoLock.lockFile = ./Cargo.lock;
            nativeBuildInputs = [
              pkgs.cmake
              pkgs.perl
            ];
            dontUseCmakeConfigure = true;
            # Tests and lints need no optimised build.
            buildType = "debug";
          };
        in
        {
          clippy = rustPlatform.buildRustPackage (
            common
            // {
              pname = "task-management-clippy";
              buildPhase = ''
                runHook preBuild
                cargo clippy --offline --workspace --all-targets --locked -- -D warnings
                runHook postBuild
              '';
              doCheck = false;
              installPhase = "touch $out";
            }
          );
          tests = rustPlatform.buildRustPackage (
            common
            // {
              pname = "task-management-tests";
              useNextest = true;
              # The Nix sandbox has loopback networking only; tests use the embedded SQLite.
              # Two tests need tools the sandbox cannot fetch (moto_server from PyPI; Chromium
              # with playwright-core from npm): CI runs them (.ci/run).
              cargoTestFlags = [
                "--workspace"
                "-E"
                "not (binary(browser) | test(signing_key_and_database_from_secrets_manager))"
              ];
              # The README session test runs curl and jq against the local stack.
              nativeCheckInputs = [
                pkgs.curl
                pkgs.jq
              ];
              installPhase = "touch $out";
            }
          );
          # Building the images evaluates and links everything the deployment uses.
          inherit (self.packages.${system}) auth-image task-image;
        }
      );

      devShells = forAllSystems (
        system:
        let
          s = perSystem system;
          inherit (s) pkgs;
        in
        {
          default = pkgs.mkShell {
            packages = [
              s.devToolchain
              pkgs.cargo-nextest
              pkgs.copilot-cli
              pkgs.skopeo
              pkgs.awscli2
              pkgs.postgresql
              pkgs.sqlite
              pkgs.cmake
              pkgs.perl
              pkgs.pkgsStatic.stdenv.cc
            ];
            # `cargo build --target x86_64-unknown-linux-musl` links with the static musl toolchain.
            env = lib.optionalAttrs (system == "x86_64-linux") {
              CC_x86_64_unknown_linux_musl = "${pkgs.pkgsStatic.stdenv.cc}/bin/${pkgs.pkgsStatic.stdenv.cc.targetPrefix}cc";
              CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER = "${pkgs.pkgsStatic.stdenv.cc}/bin/${pkgs.pkgsStatic.stdenv.cc.targetPrefix}cc";
            };
          };
        }
      );

      apps = forAllSystems (
        system:
        let
          inherit (perSystem system) pkgs;
          # skopeo refuses to run without a signature policy, and non-NixOS hosts have none.
          policy = pkgs.writeText "containers-policy.json" (
            builtins.toJSON {
              default = [ { type = "insecureAcceptAnything"; } ];
            }
          );
          publish = pkgs.writeShellApplication {
            name = "publish";
            runtimeInputs = [
              pkgs.skopeo
              pkgs.awscli2
              pkgs.coreutils
            ];
            text = ''
              usage() {
                cat >&2 <<'EOF'
              usage: nix run .#publish -- <auth|task> <image-archive> [tag]

                <image-archive>  the result of `nix build .#auth-image` (or -arm64, task-…)
                [tag]            default: ${imageTag} (the archive's own tag), "-arm64" appended for arm64

              environment:
                AWS_REGION       required
                AWS_ACCOUNT_ID   default: the caller's account (aws sts get-caller-identity)
                ECR_REPOSITORY   default: task-management/<service>
              Prints PLATFORM=linux/… and AUTH_IMAGE=… or TASK_IMAGE=…, the variables the
              Copilot manifests read: export $(nix run .#publish -- auth ./result)
              EOF
                exit 2
              }

              if [ $# -lt 2 ] || [ $# -gt 3 ]; then usage; fi
              service=$1
              archive=$2
              case "$service" in
                auth) var=AUTH_IMAGE ;;
                task) var=TASK_IMAGE ;;
                *) usage ;;
              esac
              [ -f "$archive" ] || { echo "publish: no image archive at $archive" >&2; exit 1; }
              : "''${AWS_REGION:?publish: set AWS_REGION}"

              tag=''${3:-${imageTag}}
              arch=$(skopeo --policy ${policy} inspect --config "docker-archive:$archive" \
                | sed -n 's/.*"architecture": *"\([^"]*\)".*/\1/p' | head -n1)
              if [ -z "''${3:-}" ] && [ "$arch" = arm64 ]; then
                tag="$tag-arm64"
              fi

              account=''${AWS_ACCOUNT_ID:-$(aws sts get-caller-identity --query Account --output text)}
              registry="$account.dkr.ecr.$AWS_REGION.amazonaws.com"
              repo=''${ECR_REPOSITORY:-task-management/$service}
              uri="$registry/$repo:$tag"

              authfile=$(mktemp)
              trap 'rm -f "$authfile"' EXIT
              aws ecr get-login-password --region "$AWS_REGION" \
                | skopeo login --authfile "$authfile" --username AWS --password-stdin "$registry" >&2
              skopeo --policy ${policy} copy --authfile "$authfile" \
                "docker-archive:$archive" "docker://$uri" >&2

              # What the Copilot manifests read: PLATFORM (the image's architecture) and the URI.
              case "$arch" in
                arm64) echo "PLATFORM=linux/arm64" ;;
                *) echo "PLATFORM=linux/x86_64" ;;
              esac
              echo "$var=$uri"
            '';
          };
        in
        {
          publish = {
            type = "app";
            program = lib.getExe publish;
          };
        }
      );
    };
}
