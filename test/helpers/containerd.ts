// The private containerd lives in the product (check-mirror drives it); the tests share it.
export {
  type PrivateContainerd,
  privateContainerdConfig,
  startPrivateContainerd,
} from "../../check-mirror/containerd.ts";
