/** Media types of the two manifest families a registry negotiates between (FACTS.md, "OCI distribution spec"). */
export const MEDIA = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  ociLayer: "application/vnd.oci.image.layer.v1.tar+gzip",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json",
  dockerLayer: "application/vnd.docker.image.rootfs.diff.tar.gzip",
} as const;

export type ManifestFormat = "docker" | "oci";

export const FORMAT_MEDIA: Record<
  ManifestFormat,
  { index: string; manifest: string; config: string; layer: string }
> = {
  docker: {
    index: MEDIA.dockerList,
    manifest: MEDIA.dockerManifest,
    config: MEDIA.dockerConfig,
    layer: MEDIA.dockerLayer,
  },
  oci: {
    index: MEDIA.ociIndex,
    manifest: MEDIA.ociManifest,
    config: MEDIA.ociConfig,
    layer: MEDIA.ociLayer,
  },
};

/** What pulling clients (containerd, dockerd, containers/image) send as Accept for manifests. */
export const CLIENT_ACCEPT = [
  MEDIA.dockerList,
  MEDIA.dockerManifest,
  MEDIA.ociIndex,
  MEDIA.ociManifest,
].join(", ");
