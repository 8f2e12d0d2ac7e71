//! Servers from a Docker engine, through `testcontainers` (feature `docker`).

use std::io::{Read as _, Write as _};
use std::time::Duration;

/// Whether a Docker engine answers `GET /_ping` on `DOCKER_HOST` (unix:// or
/// tcp://) or the default socket. The Docker CLI alone is not an engine.
pub(crate) fn engine_answers() -> Result<(), String> {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let request = b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
    let timeout = Some(Duration::from_secs(2));
    let mut reply = Vec::new();
    let result = if let Some(addr) = host.strip_prefix("tcp://") {
        std::net::TcpStream::connect(addr).and_then(|mut s| {
            s.set_read_timeout(timeout)?;
            s.write_all(request)?;
            s.read_to_end(&mut reply)
        })
    } else {
        let path = host
            .strip_prefix("unix://")
            .unwrap_or("/var/run/docker.sock");
        std::os::unix::net::UnixStream::connect(path).and_then(|mut s| {
            s.set_read_timeout(timeout)?;
            s.write_all(request)?;
            s.read_to_end(&mut reply)
        })
    };
    let where_ = if host.is_empty() {
        "/var/run/docker.sock".to_owned()
    } else {
        host.clone()
    };
    match result {
        Ok(_) if reply.starts_with(b"HTTP/1.") && reply.windows(3).any(|w| w == b"200") => Ok(()),
        Ok(_) => Err(format!(
            "no Docker engine answers at {where_} (unexpected reply to /_ping)"
        )),
        Err(e) => Err(format!("no Docker engine answers at {where_} ({e})")),
    }
}

#[cfg(not(feature = "docker"))]
mod imp {
    use crate::{MongoServer, Neo4jServer};

    fn unavailable() -> String {
        match super::engine_answers() {
            Ok(()) => "a Docker engine answers, but swiftbox-testsupport was built without its \
                       `docker` feature (add `--features swiftbox-testsupport/docker`)"
                .to_owned(),
            Err(why) => why,
        }
    }

    pub(crate) async fn start_mongo() -> Result<MongoServer, String> {
        Err(unavailable())
    }

    pub(crate) async fn start_neo4j() -> Result<Neo4jServer, String> {
        Err(unavailable())
    }
}

#[cfg(feature = "docker")]
mod imp {
    use crate::{MongoServer, Neo4jServer, ServerSource};
    use testcontainers::core::{IntoContainerPort as _, WaitFor};
    use testcontainers::runners::AsyncRunner as _;
    use testcontainers::{
        ContainerAsync, ContainerRequest, GenericImage, ImageExt as _, TestcontainersError,
    };

    /// The images match what scripts/servers.sh runs where it can: Neo4j 5.26
    /// LTS, and a MongoDB recent enough for the 4.2+ feature floor.
    const MONGO_IMAGE: (&str, &str) = ("mongo", "7.0");
    const NEO4J_IMAGE: (&str, &str) = ("neo4j", "5.26");

    /// Starts `request`, waits as the image says, and returns the container
    /// with the `host:port` its `port` is published on.
    async fn run(
        request: ContainerRequest<GenericImage>,
        (name, tag): (&str, &str),
        port: u16,
    ) -> Result<(ContainerAsync<GenericImage>, String), String> {
        super::engine_answers()?;
        let failed =
            |e: TestcontainersError| format!("starting a {name}:{tag} container failed: {e}");
        let container = request.start().await.map_err(failed)?;
        let host = container.get_host().await.map_err(failed)?;
        let port = container.get_host_port_ipv4(port).await.map_err(failed)?;
        Ok((container, format!("{host}:{port}")))
    }

    pub(crate) async fn start_mongo() -> Result<MongoServer, String> {
        let request = GenericImage::new(MONGO_IMAGE.0, MONGO_IMAGE.1)
            .with_exposed_port(27017.tcp())
            .with_wait_for(WaitFor::message_on_stdout("Waiting for connections"))
            .into();
        let (container, addr) = run(request, MONGO_IMAGE, 27017).await?;
        Ok(MongoServer {
            uri: format!("mongodb://{addr}/"),
            source: ServerSource::Container,
            _guard: Some(Box::new(container)),
        })
    }

    pub(crate) async fn start_neo4j() -> Result<Neo4jServer, String> {
        let password = crate::unique_name("pw");
        let request = GenericImage::new(NEO4J_IMAGE.0, NEO4J_IMAGE.1)
            .with_exposed_port(7687.tcp())
            .with_wait_for(WaitFor::message_on_stdout("Started."))
            .with_env_var("NEO4J_AUTH", format!("neo4j/{password}"));
        let (container, addr) = run(request, NEO4J_IMAGE, 7687).await?;
        Ok(Neo4jServer {
            uri: format!("bolt://{addr}"),
            user: "neo4j".to_owned(),
            password,
            source: ServerSource::Container,
            _guard: Some(Box::new(container)),
        })
    }
}

pub(crate) use imp::{start_mongo, start_neo4j};
