/// The etcd version swetcd reports (Status.version, /version, /metrics). It names the etcd
/// release whose API and behaviour swetcd implements and is tested against (etcd 3.5.16's own
/// e2e suite and the differential fuzzer); clients gate features on it, so it must never claim
/// more than is there (Kubernetes turns watch progress requests on from 3.5.13: swetcd answers
/// them as 3.5.16 does).
public enum EtcdVersion {
    public static let server = "3.5.16"
    public static let cluster = "3.5.0"
    /// etcd's `MinClusterVersion`: the cluster version a leader sets while some member has not
    /// told its own.
    public static let minCluster = "3.0.0"
    /// The major.minor printed in etcd's "enabled capabilities for version" line.
    public static let capability = "3.5"
    /// swetcd's own version.
    public static let swetcd = "0.1.0"
}
