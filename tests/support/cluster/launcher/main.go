// precheck-test-cluster starts a real Kubernetes control plane for Precheck's tests on loopback ports chosen at
// run time: etcd, kube-apiserver (TLS with its own CA, client-certificate and bearer-token users, RBAC),
// kube-controller-manager, kube-scheduler and kwok with fake nodes. It waits for /readyz, the nodes Ready and
// the default service account, writes a kubeconfig, prints one line on stdout,
//
//	READY /path/to/kubeconfig
//
// and then runs until SIGTERM/SIGINT/SIGHUP, until its stdin (when a pipe) reaches EOF, or until its parent
// dies. It stops every process it started in all these cases, and each is started with a parent-death
// signal, so even a SIGKILL of the launcher leaves none behind. Everything else (progress, timings, failures with the
// tail of the failing program's log) goes to stderr.
//
// Usage: precheck-test-cluster -bin DIR [-dir DIR] [-nodes N] [-share DIR | -kwok-stages FILE...]
package main

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func init() {
	// A parent-death signal is tied to the thread that started the child: children are started from the
	// main goroutine, kept on one thread that never exits.
	runtime.LockOSThread()
}

type options struct {
	bin        string
	dir        string
	nodes      int
	kwokStages stringList
	// The directory of container.log and previous.log, which kwok serves as every container's logs (set
	// with the share directory's stages).
	logs string
	share      string
	apiserver  stringList
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "", "directory holding etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok")
	flag.StringVar(&o.dir, "dir", "", "state directory (certificates, kubeconfig, logs, etcd data); a temporary one, removed at the end, when empty")
	flag.IntVar(&o.nodes, "nodes", 3, "number of fake (kwok) nodes")
	flag.Var(&o.kwokStages, "kwok-stages", "kwok stage configuration file (repeatable; default: the share directory's pod stages, where a pod labelled precheck.test/hold stays Pending)")
	flag.Var(&o.apiserver, "apiserver-arg", "extra kube-apiserver argument, such as --watch-cache-sizes=configmaps#0 (repeatable; after the launcher's own, so it overrides them)")
	flag.StringVar(&o.share, "share", "", "directory with kwok-stage/ and precheck-stages/ (default: BIN/../share)")
	flag.Parse()
	if o.bin == "" {
		fail("-bin is required")
	}
	if len(o.kwokStages) == 0 {
		share := o.share
		if share == "" {
			share = filepath.Join(o.bin, "..", "share")
		}
		// kwok's own pod stages but for pod-ready, which holds pods labelled precheck.test/hold and leaves
		// those labelled precheck.test/crash to pod-crash (a container in CrashLoopBackOff); every
		// container's log is container.log (previous run: previous.log). (Node stages: kwok's built-in ones,
		// used when the files name none.)
		for _, stage := range []string{"precheck-stages/pod-ready.yaml", "precheck-stages/pod-crash.yaml", "kwok-stage/pod/fast/pod-complete.yaml", "kwok-stage/pod/fast/pod-delete.yaml"} {
			path := filepath.Join(share, stage)
			if _, err := os.Stat(path); err != nil {
				fail("kwok stage %s: %v", stage, err)
			}
			o.kwokStages = append(o.kwokStages, path)
		}
		o.logs = filepath.Join(share, "precheck-stages")
	}
	c := &cluster{opts: o}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	// Our parent dying (even by SIGKILL) ends us too: we are handed to another process then. (Not a
	// parent-death signal: that follows the parent's thread, and a test harness starts us from a thread
	// that ends with its test.)
	parent := os.Getppid()
	go func() {
		for os.Getppid() == parent {
			time.Sleep(200 * time.Millisecond)
		}
		stop <- syscall.SIGTERM
	}()
	err := c.start(stop)
	if err != nil {
		c.stop()
		fail("%v", err)
	}
	fmt.Printf("READY %s\n", c.kubeconfig)
	os.Stdout.Sync()

	if info, err := os.Stdin.Stat(); err == nil && info.Mode()&(os.ModeNamedPipe|os.ModeSocket) != 0 {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop <- syscall.SIGTERM
		}()
	}
	exited := make(chan string, len(c.procs))
	for _, p := range c.procs {
		go func(p *proc) {
			<-p.done
			exited <- p.name
		}(p)
	}
	select {
	case <-stop:
		c.stop()
	case name := <-exited:
		c.stop()
		fail("%s exited while the cluster ran:\n%s", name, tail(c.log(name), 30))
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "precheck-test-cluster: "+format+"\n", args...)
	os.Exit(1)
}

type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
}

type cluster struct {
	opts       options
	dir        string
	removeDir  bool
	procs      []*proc
	kubeconfig string
	server     string
	client     *http.Client
}

func (c *cluster) path(parts ...string) string {
	return filepath.Join(append([]string{c.dir}, parts...)...)
}
func (c *cluster) log(name string) string { return c.path("logs", name+".log") }

// start brings everything up, in order, or returns why it could not.
func (c *cluster) start(stop chan os.Signal) error {
	began := time.Now()
	if c.opts.dir == "" {
		dir, err := os.MkdirTemp("", "precheck-test-cluster-")
		if err != nil {
			return err
		}
		c.dir, c.removeDir = dir, true
	} else {
		c.dir = c.opts.dir
	}
	for _, d := range []string{"pki", "logs", "etcd"} {
		if err := os.MkdirAll(c.path(d), 0o700); err != nil {
			return err
		}
	}
	ports, err := freePorts(5)
	if err != nil {
		return err
	}
	etcdPort, peerPort, apiPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4]
	c.server = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	if err := c.writeCredentials(); err != nil {
		return fmt.Errorf("credentials: %w", err)
	}
	timings := []string{}
	mark := func(what string, since time.Time) {
		timings = append(timings, fmt.Sprintf("%s %.1f s", what, time.Since(since).Seconds()))
	}

	t := time.Now()
	etcd := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	if err := c.run("etcd",
		"--data-dir", c.path("etcd"),
		"--listen-client-urls", etcd, "--advertise-client-urls", etcd,
		"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort),
		"--initial-cluster", fmt.Sprintf("default=http://127.0.0.1:%d", peerPort),
		"--unsafe-no-fsync", "--log-level", "warn",
	); err != nil {
		return err
	}
	if err := c.waitFor("etcd", stop, 30*time.Second, func() error { return httpOK(http.DefaultClient, etcd+"/health") }); err != nil {
		return err
	}
	mark("etcd", t)

	t = time.Now()
	if err := c.run("kube-apiserver", append([]string{
		"--etcd-servers", etcd,
		"--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", strconv.Itoa(apiPort),
		"--cert-dir", c.path("pki"),
		"--tls-cert-file", c.path("pki", "apiserver.crt"), "--tls-private-key-file", c.path("pki", "apiserver.key"),
		"--client-ca-file", c.path("pki", "ca.crt"),
		"--token-auth-file", c.path("pki", "tokens.csv"),
		"--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.0.0.0/24",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", c.path("pki", "sa.key"),
		"--service-account-signing-key-file", c.path("pki", "sa.key"),
		"--allow-privileged",
		"--etcd-compaction-interval", "1m",
		"--profiling=false",
	}, c.opts.apiserver...)...); err != nil {
		return err
	}
	if err := c.waitFor("kube-apiserver", stop, 90*time.Second, func() error { return httpOK(c.client, c.server+"/readyz") }); err != nil {
		return err
	}
	mark("kube-apiserver", t)

	t = time.Now()
	if err := c.run("kube-controller-manager",
		"--kubeconfig", c.kubeconfig, "--leader-elect=false", "--secure-port", "0",
		"--service-account-private-key-file", c.path("pki", "sa.key"), "--root-ca-file", c.path("pki", "ca.crt"),
		"--use-service-account-credentials=false", "--profiling=false",
	); err != nil {
		return err
	}
	if err := c.run("kube-scheduler",
		"--kubeconfig", c.kubeconfig, "--leader-elect=false",
		"--authentication-kubeconfig", c.kubeconfig, "--authorization-kubeconfig", c.kubeconfig,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(schedPort), "--profiling=false",
	); err != nil {
		return err
	}
	// The nodes' kubelet is kwok's server (InternalIP and kubelet port), so the API server's pods/log
	// reaches it: `kubectl logs` and Precheck's diagnoses read the logs it is given.
	kwokArgs := []string{
		"--kubeconfig", c.kubeconfig, "--manage-all-nodes=true",
		"--server-address", fmt.Sprintf("127.0.0.1:%d", kwokPort),
		"--node-ip", "127.0.0.1", "--node-port", strconv.Itoa(kwokPort),
		"--node-lease-duration-seconds", "40",
	}
	for _, s := range c.opts.kwokStages {
		kwokArgs = append(kwokArgs, "--config", s)
	}
	if c.opts.logs != "" {
		logs := fmt.Sprintf("apiVersion: kwok.x-k8s.io/v1alpha1\nkind: ClusterLogs\nmetadata:\n  name: every-container\nspec:\n  logs:\n  - logsFile: %q\n    previousLogsFile: %q\n",
			filepath.Join(c.opts.logs, "container.log"), filepath.Join(c.opts.logs, "previous.log"))
		if err := os.WriteFile(c.path("kwok-logs.yaml"), []byte(logs), 0o600); err != nil {
			return err
		}
		kwokArgs = append(kwokArgs, "--config", c.path("kwok-logs.yaml"))
	}
	if err := c.run("kwok", kwokArgs...); err != nil {
		return err
	}
	for i := 0; i < c.opts.nodes; i++ {
		if err := c.createNode(fmt.Sprintf("kwok-node-%d", i)); err != nil {
			return err
		}
	}
	if err := c.waitFor("kwok nodes", stop, 60*time.Second, c.nodesReady); err != nil {
		return err
	}
	if err := c.waitFor("the default service account", stop, 60*time.Second, func() error {
		return httpOK(c.client, c.server+"/api/v1/namespaces/default/serviceaccounts/default")
	}); err != nil {
		return err
	}
	mark("controllers and nodes", t)
	mark("started in", began)
	fmt.Fprintf(os.Stderr, "precheck-test-cluster: %s (%s)\n", strings.Join(timings, ", "), c.server)
	record, _ := json.Marshal(map[string]any{"seconds": time.Since(began).Seconds(), "steps": timings, "server": c.server, "etcd": etcd})
	return os.WriteFile(c.path("startup.json"), record, 0o600)
}

// run starts one program of the bin directory, its output in logs/NAME.log, killed if we die.
func (c *cluster) run(name string, args ...string) error {
	logFile, err := os.Create(c.log(name))
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(c.opts.bin, name), args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("cannot start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	c.procs = append(c.procs, p)
	return nil
}

// stop ends the programs in the reverse order of their start: SIGTERM, then SIGKILL after a grace.
func (c *cluster) stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		p := c.procs[i]
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	if c.removeDir {
		_ = os.RemoveAll(c.dir)
	}
}

// waitFor polls check until it succeeds, a program exits, a signal comes, or the limit passes.
func (c *cluster) waitFor(what string, stop chan os.Signal, limit time.Duration, check func() error) error {
	deadline := time.Now().Add(limit)
	last := errors.New("not asked yet")
	for time.Now().Before(deadline) {
		if last = check(); last == nil {
			return nil
		}
		for _, p := range c.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%s exited while waiting for %s:\n%s", p.name, what, tail(c.log(p.name), 30))
			default:
			}
		}
		select {
		case s := <-stop:
			return fmt.Errorf("stopped by %v while waiting for %s", s, what)
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s not ready after %v: %v", what, limit, last)
}

func httpOK(client *http.Client, url string) error {
	response, err := client.Get(url)
	if err != nil {
		return err
	}
	defer response.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(response.Body, 4096))
	if response.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %s", url, response.Status, body)
	}
	return nil
}

func (c *cluster) createNode(name string) error {
	resources := map[string]string{"cpu": "32", "memory": "256Gi", "pods": "110"}
	node := map[string]any{
		"apiVersion": "v1", "kind": "Node",
		"metadata": map[string]any{
			"name": name,
			"annotations": map[string]string{
				"kwok.x-k8s.io/node":           "fake",
				"node.alpha.kubernetes.io/ttl": "0",
			},
			"labels": map[string]string{
				"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"kubernetes.io/role": "agent", "type": "kwok",
			},
		},
		"status": map[string]any{
			"allocatable": resources, "capacity": resources,
			"nodeInfo": map[string]string{"architecture": "amd64", "operatingSystem": "linux", "kubeletVersion": "fake"},
		},
	}
	body, _ := json.Marshal(node)
	response, err := c.client.Post(c.server+"/api/v1/nodes", "application/json", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("create node %s: %w", name, err)
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusCreated {
		text, _ := io.ReadAll(io.LimitReader(response.Body, 4096))
		return fmt.Errorf("create node %s: %s: %s", name, response.Status, text)
	}
	return nil
}

func (c *cluster) nodesReady() error {
	response, err := c.client.Get(c.server + "/api/v1/nodes")
	if err != nil {
		return err
	}
	defer response.Body.Close()
	var list struct {
		Items []struct {
			Metadata struct{ Name string }
			Status   struct {
				Conditions []struct{ Type, Status string }
			}
		}
	}
	if err := json.NewDecoder(response.Body).Decode(&list); err != nil {
		return err
	}
	ready := 0
	for _, n := range list.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type == "Ready" && cond.Status == "True" {
				ready++
			}
		}
	}
	if ready < c.opts.nodes {
		return fmt.Errorf("%d of %d nodes Ready", ready, c.opts.nodes)
	}
	return nil
}

// writeCredentials makes the CA, the serving certificate, the admin's client certificate, the service
// account key, the token users and the kubeconfig, and the HTTP client the launcher asks with.
func (c *cluster) writeCredentials() error {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTemplate := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "precheck-test-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(name string, serial int64, subject pkix.Name, usage x509.ExtKeyUsage, ips []net.IP, dns []string) ([]byte, []byte, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		template := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: subject,
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(7 * 24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: ips, DNSNames: dns,
		}
		der, err := x509.CreateCertificate(rand.Reader, template, ca, &key.PublicKey, caKey)
		if err != nil {
			return nil, nil, err
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			return nil, nil, err
		}
		certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
		if err := os.WriteFile(c.path("pki", name+".crt"), certPEM, 0o600); err != nil {
			return nil, nil, err
		}
		return certPEM, keyPEM, os.WriteFile(c.path("pki", name+".key"), keyPEM, 0o600)
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	if err := os.WriteFile(c.path("pki", "ca.crt"), caPEM, 0o600); err != nil {
		return err
	}
	if _, _, err := issue("apiserver", 2, pkix.Name{CommonName: "kube-apiserver"}, x509.ExtKeyUsageServerAuth,
		[]net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.0.0.1")},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"}); err != nil {
		return err
	}
	adminCert, adminKey, err := issue("admin", 3, pkix.Name{CommonName: "precheck-admin", Organization: []string{"system:masters"}}, x509.ExtKeyUsageClientAuth, nil, nil)
	if err != nil {
		return err
	}
	// The service-account signing key (RSA, as the apiserver's defaults expect).
	saKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	saPEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(saKey)})
	if err := os.WriteFile(c.path("pki", "sa.key"), saPEM, 0o600); err != nil {
		return err
	}
	// Token users: one admin, and two users with no rights until a test binds some (RBAC tests).
	token := func() string {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}
	tokens := []struct{ user, token, groups string }{
		{"admin-token", token(), "system:masters"},
		{"alice", token(), ""},
		{"bob", token(), ""},
	}
	var csv, users, contexts strings.Builder
	for i, t := range tokens {
		fmt.Fprintf(&csv, "%s,%s,%d,\"%s\"\n", t.token, t.user, 1000+i, t.groups)
		fmt.Fprintf(&users, "- name: %s\n  user:\n    token: %s\n", t.user, t.token)
		fmt.Fprintf(&contexts, "- name: %s\n  context: {cluster: precheck-test, user: %s, namespace: default}\n", t.user, t.user)
	}
	if err := os.WriteFile(c.path("pki", "tokens.csv"), []byte(csv.String()), 0o600); err != nil {
		return err
	}
	b64 := base64.StdEncoding.EncodeToString
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: precheck-test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
%scontexts:
- name: admin
  context: {cluster: precheck-test, user: admin, namespace: default}
%scurrent-context: admin
`, c.server, b64(caPEM), b64(adminCert), b64(adminKey), users.String(), contexts.String())
	c.kubeconfig = c.path("kubeconfig")
	if err := os.WriteFile(c.kubeconfig, []byte(kubeconfig), 0o600); err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(adminCert, adminKey)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	c.client = &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}}},
	}
	return nil
}

// freePorts asks the kernel for n free loopback ports (released at once: the programs bind them next).
func freePorts(n int) ([]int, error) {
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// tail is the last lines of a log, for failure messages.
func tail(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	var kept []string
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		kept = append(kept, scanner.Text())
		if len(kept) > lines {
			kept = kept[1:]
		}
	}
	return strings.Join(kept, "\n")
}
