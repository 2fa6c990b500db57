// Package multireplica holds the tests of running several replicas behind HAProxy (issue 13).
//
// Always run (when haproxy is installed): deploy/haproxy.cfg is valid, and with three stand-in
// replicas it keeps each session on the replica that created it and spreads sessionless requests.
//
// Run by hand or from .ci/run with MULTIREPLICA=1: the real thing. A real redis-server, the
// standalone sandbox as the one upstream, three `exoscale-keys-mcp http` replicas sharing Redis,
// and HAProxy with deploy/haproxy.cfg, all on 127.0.0.1; see TestMultiReplica.
package multireplica
