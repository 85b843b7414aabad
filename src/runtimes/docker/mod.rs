//! The `docker` and `gvisor` runtimes: each instance is a long-lived container running the
//! language agent, created through the Docker Engine API (`bollard`) and talked to over its
//! attached stdin/stdout — never a `docker run` per invocation. `gvisor` is the same path with the
//! OCI runtime `runsc` (registered with `--oci-seccomp`, see [`DockerConfig::gvisor_runtime`]).
//!
//! Containers have no network, a read-only root, a size-capped tmpfs `/tmp`, memory (swap
//! included), CPU and pids limits, no capabilities, `no-new-privileges`, the sandbox's system-call
//! policy as their seccomp profile ([`seccomp_profile`]), and each runs as a uid and gid of its own
//! ([`crate::runtimes::uids`]), which a local engine's containers also find in their
//! `/etc/passwd` and `/etc/group`. They carry labels (`kindling.server`, `kindling.runtime`,
//! `kindling.instance`, `kindling.language`) by which a restarted server finds and removes what a
//! crashed run left, and `kindling.uid`, by which it knows which uids they still hold.

mod instance;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, ContainerSummary, HostConfig, HostConfigLogConfig};
use bollard::query_parameters::{
    AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, ListContainersOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures::future::BoxFuture;
use serde_json::json;

use self::instance::DockerInstance;
use super::freezer::{CGROUP_MOUNT, KeepFrozen};
use super::sandbox::policy::{
    self, DENIED_CLONE_FLAGS, DENIED_SOCKET_FAMILIES, DENIED_SYSCALLS, INT_ARGUMENT,
    UNIMPLEMENTED_SYSCALLS,
};
use super::uids::{UidLease, UidPool};
use super::{InstanceSpec, Runtime, Spawned, StartError, server_id};
use crate::agents::AGENT_ENV;
use crate::config::DockerConfig;
use crate::model::{Language, RuntimeKind};

/// Seconds the client waits for an answer from the Docker engine.
const API_TIMEOUT_SECS: u64 = 30;
/// The files of the sandbox's `/etc` a container gets, naming its uid and gid.
const ETC_FILES: [&str; 2] = ["passwd", "group"];
/// The label that names the uid a container runs as.
const UID_LABEL: &str = "kindling.uid";

pub struct DockerRuntime {
    shared: Arc<Shared>,
}

struct Shared {
    kind: RuntimeKind,
    /// Connected and version-negotiated once the engine has answered.
    client: RwLock<Option<Docker>>,
    host: Option<String>,
    /// Whether the engine runs on this host (a Unix socket), so that its containers' cgroups are
    /// here to freeze.
    local: bool,
    /// Keeps thawing cheap where containers are frozen through cgroup v1; removed at shutdown.
    keep_frozen: std::sync::Mutex<Option<KeepFrozen>>,
    images: BTreeMap<Language, String>,
    /// `runsc` for gVisor; the engine's default (runc) otherwise.
    oci_runtime: Option<String>,
    /// `no-new-privileges` and the seccomp profile.
    security_opt: Vec<String>,
    uids: Arc<UidPool>,
    /// Parent of each container's `/etc/passwd` and `/etc/group`, where the engine is local.
    etc: Option<PathBuf>,
    server: String,
    /// Per language, whether its image is there (as of the last full check).
    languages: RwLock<BTreeMap<Language, Result<(), String>>>,
}

impl DockerRuntime {
    /// The `docker` runtime, or with `gvisor` the same through `config.gvisor_runtime`; each
    /// container runs as a uid of `uids`. Nothing is contacted yet: [`Runtime::check`] does that.
    pub fn new(
        kind: RuntimeKind,
        config: &DockerConfig,
        data_dir: &Path,
        uids: Arc<UidPool>,
    ) -> Self {
        let not_checked = || Err("not checked yet".to_owned());
        let local = config
            .host
            .clone()
            .or_else(|| std::env::var("DOCKER_HOST").ok())
            .is_none_or(|host| host.starts_with("unix://") || host.starts_with('/'));
        let server = server_id(data_dir);
        let v1_freezer = Path::new(CGROUP_MOUNT).join("freezer");
        let keep_frozen = (local && v1_freezer.is_dir())
            .then(|| {
                KeepFrozen::new(v1_freezer.join(format!("kindling/{server}.{kind}.keep-frozen")))
            })
            .and_then(|kept| {
                kept.inspect_err(|e| tracing::debug!(error = %e, "no frozen anchor"))
                    .ok()
            });
        Self {
            shared: Arc::new(Shared {
                kind,
                client: RwLock::new(None),
                host: config.host.clone(),
                local,
                keep_frozen: std::sync::Mutex::new(keep_frozen),
                images: BTreeMap::from([
                    (Language::Python, config.python_image.clone()),
                    (Language::Javascript, config.node_image.clone()),
                ]),
                oci_runtime: (kind == RuntimeKind::Gvisor).then(|| config.gvisor_runtime.clone()),
                security_opt: vec![
                    "no-new-privileges".to_owned(),
                    format!("seccomp={}", seccomp_profile(kind)),
                ],
                uids,
                // Bind mounts name paths on the engine's host: only a local engine sees ours.
                etc: local.then(|| {
                    std::path::absolute(data_dir)
                        .unwrap_or_else(|_| data_dir.to_path_buf())
                        .join(kind.as_str())
                        .join("etc")
                }),
                server,
                languages: RwLock::new(
                    Language::ALL
                        .into_iter()
                        .map(|l| (l, not_checked()))
                        .collect(),
                ),
            }),
        }
    }
}

/// Why the Docker engine cannot run instances right now.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    #[error("the Docker engine does not answer: {0}")]
    Unreachable(#[from] bollard::errors::Error),
    #[error(
        "the Docker engine has no '{0}' runtime (register gVisor's runsc as '{0}' with runtimeArgs [\"--network=none\", \"--oci-seccomp\"] in /etc/docker/daemon.json; scripts/docker-setup does)"
    )]
    NoOciRuntime(String),
    #[error(
        "the Docker engine's '{0}' runtime is not started with --oci-seccomp, so gVisor would ignore the seccomp profile (add it to its runtimeArgs in /etc/docker/daemon.json)"
    )]
    NoOciSeccomp(String),
}

/// The sandbox's system-call policy ([`policy::DENIED_SYSCALLS`] and the rest) as a Docker seccomp
/// profile, which replaces Docker's default one: everything is allowed but what the sandbox
/// refuses, refused with the same errno — one policy for every runtime. (Docker's default is an
/// allow-list; what it refuses a process without capabilities is in the sandbox's list too.)
///
/// runsc ignores `errnoRet` (Debian's 2022 build does: every refusal is `EPERM`), and a `clone3`
/// refused with `EPERM` would stop the C library from creating threads, since it falls back to
/// `clone` only on `ENOSYS`. gVisor's profile therefore leaves `clone3` to gVisor, whose kernel
/// answers it `ENOSYS` itself.
pub fn seccomp_profile(kind: RuntimeKind) -> String {
    let refused = |names: &[&str], errno: i32, args: serde_json::Value| {
        json!({
            "names": names,
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": errno,
            "args": args,
        })
    };
    // Refused when `(argument 0 & mask) == value`.
    let masked = |mask: u64, value: u64| {
        json!([{
            "index": 0,
            "value": mask,
            "valueTwo": value,
            "op": "SCMP_CMP_MASKED_EQ",
        }])
    };
    let mut syscalls = vec![refused(DENIED_SYSCALLS, libc::EPERM, json!([]))];
    for flag in DENIED_CLONE_FLAGS {
        syscalls.push(refused(&["clone"], libc::EPERM, masked(*flag, *flag)));
    }
    for family in DENIED_SOCKET_FAMILIES {
        syscalls.push(refused(
            &["socket"],
            libc::EPERM,
            masked(INT_ARGUMENT, *family),
        ));
    }
    if kind != RuntimeKind::Gvisor {
        syscalls.push(refused(UNIMPLEMENTED_SYSCALLS, libc::ENOSYS, json!([])));
    }
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": syscalls}).to_string()
}

/// Errors from the engine's answers are the request's fault; any other is the engine being gone.
fn start_error(error: bollard::errors::Error) -> StartError {
    match error {
        bollard::errors::Error::DockerResponseServerError { message, .. } => {
            StartError::Refused(message)
        }
        other => StartError::Unavailable(DockerError::Unreachable(other).to_string()),
    }
}

impl Shared {
    fn connect(&self) -> Result<Docker, bollard::errors::Error> {
        match self.host.as_deref() {
            Some(host) if host.starts_with("unix://") || host.starts_with('/') => {
                Docker::connect_with_socket(host, API_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            }
            Some(host) => {
                Docker::connect_with_http(host, API_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION)
            }
            None => Docker::connect_with_defaults(),
        }
    }

    fn client(&self) -> Option<Docker> {
        crate::sync::read(&self.client).clone()
    }

    async fn check(&self) -> Result<(), DockerError> {
        if let Some(client) = self.client() {
            if client.ping().await.is_ok() {
                // Look for missing images again: they may have been pulled or built since.
                if self.all_languages().is_err() {
                    self.inspect_images(&client).await;
                }
                return Ok(());
            }
            *crate::sync::write(&self.client) = None;
        }
        // (Re)connecting: negotiate the API version (hosts run older engines than bollard
        // speaks), then look at the OCI runtime and the images again.
        let client = self.connect()?.negotiate_version().await?;
        if let Some(oci_runtime) = &self.oci_runtime {
            let info = client.info().await?;
            let runtimes = info.runtimes.unwrap_or_default();
            let registered = runtimes
                .get(oci_runtime)
                .ok_or_else(|| DockerError::NoOciRuntime(oci_runtime.clone()))?;
            // Without it gVisor ignores a container's seccomp profile.
            let seccomp = registered.runtime_args.iter().flatten().any(|arg| {
                matches!(
                    arg.trim_start_matches('-'),
                    "oci-seccomp" | "oci-seccomp=true"
                )
            });
            if !seccomp {
                return Err(DockerError::NoOciSeccomp(oci_runtime.clone()));
            }
        }
        self.inspect_images(&client).await;
        // Containers that died with the engine took uids their instances could not release.
        self.release_gone_uids(&client).await;
        *crate::sync::write(&self.client) = Some(client);
        Ok(())
    }

    /// This server's containers of this runtime, running or not.
    async fn containers(
        &self,
        client: &Docker,
    ) -> Result<Vec<ContainerSummary>, bollard::errors::Error> {
        let filters = HashMap::from([(
            "label",
            vec![
                format!("kindling.server={}", self.server),
                format!("kindling.runtime={}", self.kind),
            ],
        )]);
        let options = ListContainersOptionsBuilder::default()
            .all(true)
            .filters(&filters)
            .build();
        client.list_containers(Some(options)).await
    }

    /// Frees the uids this server's instances left claimed that no process of its containers
    /// runs as: an exited, dead or never started container has none (and is never started again).
    async fn release_gone_uids(&self, client: &Docker) {
        use bollard::models::ContainerSummaryStateEnum as State;
        let Ok(containers) = self.containers(client).await else {
            return;
        };
        let alive: BTreeSet<u32> = containers
            .iter()
            .filter(|c| !matches!(c.state, Some(State::EXITED | State::DEAD | State::CREATED)))
            .filter_map(|c| c.labels.as_ref()?.get(UID_LABEL)?.parse().ok())
            .collect();
        self.uids.release_abandoned(self.kind, &alive);
    }

    /// Notes, per language, whether its image is there.
    async fn inspect_images(&self, client: &Docker) {
        let mut languages = BTreeMap::new();
        for (language, image) in &self.images {
            let present = match client.inspect_image(image).await {
                Ok(_) => Ok(()),
                Err(_) => Err(format!(
                    "the image {image} is not present (pull it, or build one with scripts/build-images and set docker.{}_image)",
                    if *language == Language::Python {
                        "python"
                    } else {
                        "node"
                    }
                )),
            };
            languages.insert(*language, present);
        }
        *crate::sync::write(&self.languages) = languages;
    }

    fn all_languages(&self) -> Result<(), String> {
        let languages = crate::sync::read(&self.languages);
        languages.values().cloned().collect()
    }

    fn labels(&self, spec: &InstanceSpec, uid: &UidLease) -> HashMap<String, String> {
        HashMap::from([
            ("kindling.server".to_owned(), self.server.clone()),
            ("kindling.runtime".to_owned(), self.kind.as_str().to_owned()),
            ("kindling.instance".to_owned(), spec.id.to_string()),
            (
                "kindling.language".to_owned(),
                spec.language.as_str().to_owned(),
            ),
            (UID_LABEL.to_owned(), uid.uid().to_string()),
        ])
    }

    /// Writes the `/etc/passwd` and `/etc/group` of instance `id` running as `uid`; their
    /// directory, where the engine is local.
    fn write_etc(&self, id: u64, uid: &UidLease) -> std::io::Result<Option<PathBuf>> {
        let Some(etc) = &self.etc else {
            return Ok(None);
        };
        let dir = etc.join(format!("i{id}"));
        std::fs::create_dir_all(&dir)?;
        for (name, contents) in policy::etc_files(uid.uid(), uid.gid()) {
            if ETC_FILES.contains(&name) {
                let file = dir.join(name);
                std::fs::write(&file, contents)?;
                // Read by the container's uid, whatever mask the engine runs with.
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))?;
            }
        }
        Ok(Some(dir))
    }

    fn container(
        &self,
        spec: &InstanceSpec,
        uid: &UidLease,
        etc: Option<&Path>,
    ) -> ContainerCreateBody {
        let limits = spec.limits;
        let memory = i64::from(limits.memory_mb) * 1024 * 1024;
        let interpreter = match spec.language {
            Language::Python => "python3",
            Language::Javascript => "node",
        };
        ContainerCreateBody {
            image: Some(self.images[&spec.language].clone()),
            cmd: Some(spec.language.agent_command(interpreter)),
            env: Some(AGENT_ENV.iter().map(|v| v.to_string()).collect()),
            user: Some(format!("{}:{}", uid.uid(), uid.gid())),
            working_dir: Some("/tmp".to_owned()),
            labels: Some(self.labels(spec, uid)),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            open_stdin: Some(true),
            // When the engine goes away, the agent reads end-of-file and exits.
            stdin_once: Some(true),
            tty: Some(false),
            network_disabled: Some(true),
            host_config: Some(HostConfig {
                memory: Some(memory),
                memory_swap: Some(memory),
                nano_cpus: Some((limits.cpus * 1e9) as i64),
                pids_limit: Some(limits.pids_max.into()),
                network_mode: Some("none".to_owned()),
                readonly_rootfs: Some(true),
                tmpfs: Some(HashMap::from([(
                    "/tmp".to_owned(),
                    format!(
                        "rw,nosuid,nodev,size={}m,mode=1777,uid={},gid={}",
                        limits.tmp_size_mb,
                        uid.uid(),
                        uid.gid()
                    ),
                )])),
                binds: etc.map(|etc| {
                    ETC_FILES
                        .iter()
                        .map(|name| format!("{}:/etc/{name}:ro", etc.join(name).display()))
                        .collect()
                }),
                cap_drop: Some(vec!["ALL".to_owned()]),
                security_opt: Some(self.security_opt.clone()),
                runtime: self.oci_runtime.clone(),
                // The engine takes the output from the attach stream; a log driver would keep a
                // second copy on dockerd's disk, growing with every byte a function prints.
                log_config: Some(HostConfigLogConfig {
                    typ: Some("none".to_owned()),
                    config: None,
                }),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        }
    }

    async fn start(&self, spec: InstanceSpec) -> Result<Spawned, StartError> {
        crate::sync::read(&self.languages)[&spec.language]
            .clone()
            .map_err(|reason| StartError::LanguageUnavailable {
                runtime: self.kind,
                language: spec.language,
                reason,
            })?;
        let client = self.client().ok_or_else(|| {
            StartError::Unavailable("the Docker engine has not answered yet".to_owned())
        })?;
        let name = format!("kindling-{}-{}-{}", self.server, self.kind, spec.id);
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        let uid = self.uids.claim(self.kind)?;
        let etc = match self.write_etc(spec.id, &uid) {
            Ok(etc) => etc,
            Err(e) => {
                uid.release();
                return Err(e.into());
            }
        };
        let config = self.container(&spec, &uid, etc.as_deref());
        let created = match client.create_container(Some(options), config).await {
            Ok(created) => created,
            Err(e) => {
                if let Some(etc) = &etc {
                    let _ = std::fs::remove_dir_all(etc);
                }
                let e = start_error(e);
                // Refused, no container was made; an engine gone mid-request may have made one,
                // which runs as this uid until a restart removes it: the claim stays.
                if matches!(e, StartError::Refused(_)) {
                    uid.release();
                }
                return Err(e);
            }
        };
        let mut instance = DockerInstance::new(
            client.clone(),
            created.id.clone(),
            self.oci_runtime.is_some(),
            uid,
            etc,
        );
        let attach = AttachContainerOptionsBuilder::default()
            .stdin(true)
            .stdout(true)
            .stderr(true)
            .stream(true)
            .build();
        // Attached before it starts, so that nothing it writes is missed.
        let attached = client
            .attach_container(&created.id, Some(attach))
            .await
            .map_err(start_error)?;
        client
            .start_container(&created.id, None)
            .await
            .map_err(start_error)?;
        let (stdout, stderr) = instance.demultiplex(attached.output);
        if self.local {
            instance.find_freezer().await;
        }
        Ok(Spawned {
            stdin: attached.input,
            stdout: Box::pin(stdout),
            stderr: Box::pin(stderr),
            control: Box::new(instance),
        })
    }

    async fn reap_orphans(&self) {
        let Some(client) = self.client() else {
            return;
        };
        let Ok(containers) = self.containers(&client).await else {
            return;
        };
        let force = RemoveContainerOptionsBuilder::default().force(true).build();
        for id in containers.into_iter().filter_map(|c| c.id) {
            // One left frozen would not die.
            if let Ok(freezer) = instance::container_freezer(&client, &id).await {
                let _ = freezer.thaw();
            }
            let _ = client.remove_container(&id, Some(force.clone())).await;
        }
        self.release_gone_uids(&client).await;
        if let Some(etc) = &self.etc {
            let _ = std::fs::remove_dir_all(etc);
        }
    }
}

impl Runtime for DockerRuntime {
    fn kind(&self) -> RuntimeKind {
        self.shared.kind
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { self.shared.check().await.map_err(|e| e.to_string()) })
    }

    fn supports(&self, language: Language) -> Result<(), String> {
        crate::sync::read(&self.shared.languages)[&language].clone()
    }

    fn start(&self, spec: InstanceSpec) -> BoxFuture<'_, Result<Spawned, StartError>> {
        Box::pin(self.shared.start(spec))
    }

    fn reap_orphans(&self) -> BoxFuture<'_, ()> {
        Box::pin(self.shared.reap_orphans())
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {
            self.shared.reap_orphans().await;
            crate::sync::lock(&self.shared.keep_frozen).take();
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    /// Every refusal of the profile: (names, errno, arguments).
    fn refusals(kind: RuntimeKind) -> Vec<(Vec<String>, i64, Value)> {
        let profile: Value = serde_json::from_str(&seccomp_profile(kind)).unwrap();
        assert_eq!(profile["defaultAction"], "SCMP_ACT_ALLOW");
        let rules = profile["syscalls"].as_array().unwrap();
        rules
            .iter()
            .map(|rule| {
                assert_eq!(rule["action"], "SCMP_ACT_ERRNO");
                let names = rule["names"].as_array().unwrap();
                let names = names.iter().map(|n| n.as_str().unwrap().to_owned());
                let errno = rule["errnoRet"].as_i64().unwrap();
                (names.collect(), errno, rule["args"].clone())
            })
            .collect()
    }

    #[test]
    fn the_profile_refuses_what_the_sandbox_refuses() {
        for kind in [RuntimeKind::Docker, RuntimeKind::Gvisor] {
            let refusals = refusals(kind);
            let plain: Vec<&String> = refusals
                .iter()
                .filter(|(_, errno, args)| *errno == 1 && args == &json!([]))
                .flat_map(|(names, _, _)| names)
                .collect();
            assert_eq!(plain, DENIED_SYSCALLS, "{kind}");
            let conditional = |name: &str| {
                refusals
                    .iter()
                    .filter(|(names, errno, _)| names == &[name] && *errno == 1)
                    .map(|(_, _, args)| args[0]["valueTwo"].as_u64().unwrap())
                    .collect::<Vec<u64>>()
            };
            assert_eq!(conditional("clone"), DENIED_CLONE_FLAGS, "{kind}");
            assert_eq!(conditional("socket"), DENIED_SOCKET_FAMILIES, "{kind}");
            let unimplemented = refusals.iter().any(|(names, errno, _)| {
                *errno == i64::from(libc::ENOSYS) && names == UNIMPLEMENTED_SYSCALLS
            });
            // runsc answers every refusal EPERM: clone3 is left to gVisor's own ENOSYS.
            assert_eq!(unimplemented, kind == RuntimeKind::Docker, "{kind}");
        }
    }
}
