// Package devtemporal runs a complete Temporal server inside this process on a
// SQLite file, for dev mode and tests, built the way the Temporal CLI's dev
// server builds its own. The frontend listens on a real port, so the stock
// `temporal` CLI and any SDK client work against it.
package devtemporal

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/server/common/authorization"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
	"go.temporal.io/server/common/membership/static"
	"go.temporal.io/server/common/metrics"
	"go.temporal.io/server/common/persistence"
	tsql "go.temporal.io/server/common/persistence/sql"
	"go.temporal.io/server/common/persistence/sql/sqlplugin"
	postgresplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/common/primitives"
	"go.temporal.io/server/common/resolver"
	dbschemas "go.temporal.io/server/schema"
	postgresschema "go.temporal.io/server/schema/postgresql/v12"
	sqliteschema "go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
)

// Options configure the embedded server.
type Options struct {
	// DatabaseFile is the SQLite file; empty runs in memory (tests).
	DatabaseFile string
	// Address of the frontend, host:port; port 0 picks a free one.
	Address string
	// Namespace is registered at start; default "default".
	Namespace string
	Logger    *slog.Logger
	// DynamicConfig overrides dynamic config values by key.
	DynamicConfig map[string]any
	// Postgres, if set, keeps the server's state in Postgres instead of
	// SQLite (measured against SQLite in internal/benchmarks).
	Postgres *Postgres
	// TLS, if set, makes the frontend speak TLS only, as a managed or
	// self-hosted production cluster does (for the clients' TLS tests).
	TLS *TLS
}

// TLS of the frontend, PEM files.
type TLS struct {
	// CA signed Cert; with RequireClientCert it must sign the clients'
	// certificates too. Cert must be usable for client authentication as
	// well: the server's own system workers present it.
	CA, Cert, Key     string
	ServerName        string
	RequireClientCert bool
}

// Postgres names two existing databases for the server's state and its
// visibility store; the schema is set up on first start.
type Postgres struct {
	Addr       string // host:port
	User       string
	Password   string
	Database   string
	Visibility string
	// Shards is the number of history shards, fixed when the schema is
	// set up; 0 means 4.
	Shards int32
}

// sql is the plugin configuration of one of the databases.
func (p *Postgres) sql(db string) *config.SQL {
	return &config.SQL{PluginName: postgresplugin.PluginNamePGX, DatabaseName: db, ConnectAddr: p.Addr, ConnectProtocol: "tcp",
		User: p.User, Password: p.Password, MaxConns: 20, MaxIdleConns: 20, MaxConnLifetime: time.Hour}
}

// setup creates the schemas where they are missing, as the Temporal SQL
// tool's setup-schema does: the embedded schema file, then the version.
func (p *Postgres) setup() error {
	for _, x := range []struct{ db, schema, version string }{
		{p.Database, "postgresql/v12/temporal", postgresschema.Version},
		{p.Visibility, "postgresql/v12/visibility", postgresschema.VisibilityVersion},
	} {
		err := func() error {
			db, err := tsql.NewSQLAdminDB(sqlplugin.DbKindUnknown, p.sql(x.db), resolver.NewNoopResolver(), log.NewNoopLogger(), metrics.NoopMetricsHandler)
			if err != nil {
				return err
			}
			defer db.Close()
			if v, err := db.ReadSchemaVersion(x.db); err == nil && v != "" {
				return nil
			}
			if err := db.CreateSchemaVersionTables(); err != nil {
				return err
			}
			raw, err := fs.ReadFile(dbschemas.Assets(), x.schema+"/schema.sql")
			if err != nil {
				return err
			}
			stmts, err := persistence.LoadAndSplitQueryFromReaders([]io.Reader{bytes.NewReader(raw)})
			if err != nil {
				return err
			}
			for _, stmt := range stmts {
				if err := db.Exec(stmt); err != nil {
					return err
				}
			}
			if err := db.UpdateSchemaVersion(x.db, x.version, x.version); err != nil {
				return err
			}
			return db.WriteSchemaUpdateLog("0", x.version, "", "initial version")
		}()
		if err != nil {
			return fmt.Errorf("devtemporal: postgres schema in %s: %w", x.db, err)
		}
	}
	return nil
}

// Server is a running embedded Temporal server.
type Server struct {
	srv       temporal.Server
	hostPort  string
	namespace string
}

// Start builds and starts the server and returns once its frontend serves.
func Start(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Namespace == "" {
		opts.Namespace = "default"
	}
	if opts.Address == "" {
		opts.Address = "127.0.0.1:0"
	}
	// Every port stays held until all are chosen: a port given back at
	// once may be handed out again for the next service.
	var held []net.Listener
	defer func() {
		for _, l := range held {
			_ = l.Close()
		}
	}()
	reserve := func(addr string) (string, int, error) {
		host, port, l, err := reservePort(addr)
		if err == nil {
			held = append(held, l)
		}
		return host, port, err
	}
	host, port, err := reserve(opts.Address)
	if err != nil {
		return nil, err
	}
	ports := map[primitives.ServiceName]int{primitives.FrontendService: port}
	for _, svc := range []primitives.ServiceName{primitives.HistoryService, primitives.MatchingService, primitives.WorkerService} {
		_, p, err := reserve(host + ":0")
		if err != nil {
			return nil, err
		}
		ports[svc] = p
	}
	_, httpPort, err := reserve(host + ":0")
	if err != nil {
		return nil, err
	}
	for _, l := range held {
		_ = l.Close()
	}
	held = nil

	logger := slogAdapter{opts.Logger}
	var sqlConf, visConf *config.SQL
	shards := int32(1)
	if p := opts.Postgres; p != nil {
		if err := p.setup(); err != nil {
			return nil, err
		}
		sqlConf, visConf, shards = p.sql(p.Database), p.sql(p.Visibility), cmp.Or(p.Shards, 4)
	} else {
		if sqlConf, err = sqlConfig(opts.DatabaseFile); err != nil {
			return nil, err
		}
		visConf = sqlConf
	}
	ns, err := sqliteschema.NewNamespaceConfig("active", opts.Namespace, false, nil)
	if err != nil {
		return nil, fmt.Errorf("devtemporal: namespace config: %w", err)
	}
	if err := sqliteschema.CreateNamespaces(sqlConf, ns); err != nil {
		return nil, fmt.Errorf("devtemporal: register namespace %s: %w", opts.Namespace, err)
	}

	hostPort := net.JoinHostPort(host, fmt.Sprint(port))
	var conf config.Config
	conf.Global.Membership.MaxJoinDuration = 30 * time.Second
	conf.Global.Membership.BroadcastAddress = host
	conf.Persistence.DefaultStore = "default"
	conf.Persistence.VisibilityStore = "visibility"
	conf.Persistence.NumHistoryShards = shards
	conf.Persistence.DataStores = map[string]config.DataStore{"default": {SQL: sqlConf}, "visibility": {SQL: visConf}}
	conf.ClusterMetadata = &cluster.Config{
		FailoverVersionIncrement: 10,
		MasterClusterName:        "active",
		CurrentClusterName:       "active",
		ClusterInformation: map[string]cluster.ClusterInformation{
			"active": {
				Enabled:                true,
				InitialFailoverVersion: 1,
				RPCAddress:             hostPort,
				HTTPAddress:            net.JoinHostPort(host, fmt.Sprint(httpPort)),
				ClusterID:              "lifeevents-dev",
			},
		},
	}
	conf.DCRedirectionPolicy.Policy = "noop"
	conf.Services = map[string]config.Service{}
	for svc, p := range ports {
		s := config.Service{RPC: config.RPC{GRPCPort: p, BindOnIP: host}}
		if svc == primitives.FrontendService {
			s.RPC.HTTPPort = httpPort
		}
		conf.Services[string(svc)] = s
	}
	conf.Archival.History.State = "disabled"
	conf.Archival.Visibility.State = "disabled"
	conf.NamespaceDefaults.Archival.History.State = "disabled"
	conf.NamespaceDefaults.Archival.Visibility.State = "disabled"
	conf.PublicClient.HostPort = hostPort
	if t := opts.TLS; t != nil {
		conf.Global.TLS.Frontend.Server = config.ServerTLS{CertFile: t.Cert, KeyFile: t.Key,
			RequireClientAuth: t.RequireClientCert, ClientCAFiles: []string{t.CA}}
		conf.Global.TLS.SystemWorker = config.WorkerTLS{CertFile: t.Cert, KeyFile: t.Key,
			Client: config.ClientTLS{ServerName: t.ServerName, RootCAFiles: []string{t.CA}}}
	}

	authorizer, err := authorization.GetAuthorizerFromConfig(&conf.Global.Authorization)
	if err != nil {
		return nil, fmt.Errorf("devtemporal: authorizer: %w", err)
	}
	claimMapper, err := authorization.GetClaimMapperFromConfig(&conf.Global.Authorization, logger)
	if err != nil {
		return nil, fmt.Errorf("devtemporal: claim mapper: %w", err)
	}
	static := map[primitives.ServiceName]static.Hosts{}
	for svc, p := range ports {
		static[svc] = staticHost(host, p)
	}

	dyn := dynamicconfig.StaticClient{
		dynamicconfig.HistoryCacheHostLevelMaxSize.Key():                 8096,
		dynamicconfig.FrontendMaxNamespaceVisibilityRPSPerInstance.Key(): 100,
		// The default of 20 polls per second per shard puts a ~42 ms floor
		// under every workflow task on a one-shard server.
		dynamicconfig.TransferProcessorMaxPollRPS.Key(): 1000,
		dynamicconfig.TimerProcessorMaxPollRPS.Key():    1000,
	}
	for k, v := range opts.DynamicConfig {
		dyn[dynamicconfig.MakeKey(k)] = v
	}

	srv, err := temporal.NewServer(
		temporal.WithConfig(&conf),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithStaticHosts(static),
		temporal.WithLogger(logger),
		temporal.WithAuthorizer(authorizer),
		temporal.WithClaimMapper(func(*config.Config) authorization.ClaimMapper { return claimMapper }),
		temporal.WithDynamicConfigClient(dyn),
	)
	if err != nil {
		return nil, fmt.Errorf("devtemporal: build server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("devtemporal: start: %w", err)
	}
	s := &Server{srv: srv, hostPort: hostPort, namespace: opts.Namespace}
	if err := waitServing(hostPort, 30*time.Second); err != nil {
		_ = srv.Stop()
		return nil, err
	}
	return s, nil
}

// HostPort is the frontend address for SDK clients and the temporal CLI.
func (s *Server) HostPort() string { return s.hostPort }

// Namespace registered at start.
func (s *Server) Namespace() string { return s.namespace }

// Stop stops all services and closes the database.
func (s *Server) Stop() error { return s.srv.Stop() }

func sqlConfig(file string) (*config.SQL, error) {
	conf := &config.SQL{PluginName: sqliteplugin.PluginName}
	if file == "" {
		conf.ConnectAttributes = map[string]string{"mode": "memory", "cache": "shared"}
		conf.DatabaseName = fmt.Sprintf("lifeevents-%d-%d", os.Getpid(), time.Now().UnixNano())
		return conf, nil
	}
	// WAL with synchronous=NORMAL is durable across process crashes and an
	// order of magnitude faster than the rollback journal. Keys go in
	// verbatim: the plugin's pragma option rewrites them.
	conf.ConnectAttributes = map[string]string{"mode": "rwc", "journal_mode": "wal", "synchronous": "NORMAL"}
	conf.DatabaseName = file
	if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(filepath.Dir(file)); err != nil {
			return nil, fmt.Errorf("devtemporal: database folder: %w", err)
		}
		if err := sqliteschema.SetupSchema(conf); err != nil {
			return nil, fmt.Errorf("devtemporal: create schema in %s: %w", file, err)
		}
	}
	return conf, nil
}

func staticHost(host string, port int) static.Hosts {
	return static.SingleLocalHost(net.JoinHostPort(host, fmt.Sprint(port)))
}

// reservePort resolves host:port, picking a free port for 0, and fails with
// a clear message if a fixed port is taken. The caller closes the
// listener once it has chosen all its ports.
func reservePort(addr string) (string, int, net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, nil, fmt.Errorf("devtemporal: address %q: %w", addr, err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return "", 0, nil, fmt.Errorf("devtemporal: %s is in use", addr)
	}
	return host, l.Addr().(*net.TCPAddr).Port, l, nil
}

func waitServing(hostPort string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", hostPort, time.Second)
		if err == nil {
			_ = c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("devtemporal: frontend %s not serving after %s", hostPort, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// slogAdapter sends the server's logs to slog. The server logs a great deal
// at info about its own internals; an operator of lifeevents needs warnings.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) attrs(tags []tag.Tag) []any {
	out := make([]any, 0, len(tags)+1)
	out = append(out, slog.String("component", "temporal"))
	for _, t := range tags {
		out = append(out, slog.Any(t.Key(), t.Value()))
	}
	return out
}

func (a slogAdapter) Debug(msg string, tags ...tag.Tag) {}
func (a slogAdapter) Info(msg string, tags ...tag.Tag)  { a.l.Debug(msg, a.attrs(tags)...) }
func (a slogAdapter) Warn(msg string, tags ...tag.Tag)  { a.l.Debug(msg, a.attrs(tags)...) }
func (a slogAdapter) Error(msg string, tags ...tag.Tag) { a.l.Warn(msg, a.attrs(tags)...) }
func (a slogAdapter) DPanic(msg string, tags ...tag.Tag) {
	a.l.Error(msg, a.attrs(tags)...)
}
func (a slogAdapter) Panic(msg string, tags ...tag.Tag) {
	a.l.Error(msg, a.attrs(tags)...)
	panic(msg)
}
func (a slogAdapter) Fatal(msg string, tags ...tag.Tag) {
	a.l.Error(msg, a.attrs(tags)...)
	os.Exit(1)
}

var _ log.Logger = slogAdapter{}

// Ping reports whether the frontend accepts connections.
func (s *Server) Ping(ctx context.Context) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", s.hostPort)
	if err != nil {
		return err
	}
	return c.Close()
}
