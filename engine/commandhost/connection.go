package main

// The SSH connection of a remote.Command, as the real provider makes it:
// provider/pkg/provider/remote/connection.go (Connection, connectionBase.SSHConfig, dialWithRetry,
// Connection.Dial, reachedDialingErrorLimit) and connection_unix.go (the agent socket), at 7f3eb6f3b77c.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/retry"
)

const (
	defaultUser           = "root"
	defaultPort           = 22
	defaultDialErrorLimit = 10 // -1: unlimited
	defaultPerDialTimeout = 15 // seconds; 0: no maximum
)

// connection holds the `connection` input (and, nested, its `proxy`); nil fields were not given.
type connection struct {
	User               *string
	Password           *string
	Host               *string
	Port               *float64
	PrivateKey         *string
	PrivateKeyPassword *string
	AgentSocketPath    *string
	DialErrorLimit     *int
	PerDialTimeout     *int
	HostKey            *string
	Proxy              *connection
}

func (c *connection) user() string {
	if c.User == nil {
		return defaultUser
	}
	return *c.User
}

func (c *connection) endpoint() (string, error) {
	if c.Host == nil {
		return "", errors.New("connection.host is required")
	}
	port := float64(defaultPort)
	if c.Port != nil {
		port = *c.Port
	}
	return net.JoinHostPort(*c.Host, strconv.Itoa(int(port))), nil
}

func (c *connection) dialErrorLimit() int {
	if c.DialErrorLimit == nil {
		return defaultDialErrorLimit
	}
	return *c.DialErrorLimit
}

// sshConfig follows connectionBase.SSHConfig: a hostKey is parsed as an authorized_keys line, is the
// only key accepted (ssh.FixedHostKey), and only its algorithm is offered for the host key, so a
// server is asked for exactly that kind of key; without hostKey any host key is accepted. The private
// key (with its password if given), then the password (also answering keyboard-interactive), then
// the agent (agentSocketPath, else $SSH_AUTH_SOCK) are the authentication methods, in that order.
func (c *connection) sshConfig() (*ssh.ClientConfig, error) {
	config := &ssh.ClientConfig{User: c.user()}
	if c.HostKey != nil {
		pinned, _, _, _, err := ssh.ParseAuthorizedKey([]byte(*c.HostKey))
		if err != nil {
			return nil, fmt.Errorf("failed to parse host key: %w", err)
		}
		config.HostKeyCallback = ssh.FixedHostKey(pinned)
		config.HostKeyAlgorithms = []string{pinned.Type()}
	} else {
		config.HostKeyCallback = ssh.InsecureIgnoreHostKey() //nolint:gosec // as the real provider: no hostKey, no check
	}
	perDial := defaultPerDialTimeout
	if c.PerDialTimeout != nil {
		perDial = *c.PerDialTimeout
	}
	config.Timeout = time.Duration(perDial) * time.Second

	if c.PrivateKey != nil {
		var signer ssh.Signer
		var err error
		if c.PrivateKeyPassword != nil {
			signer, err = ssh.ParsePrivateKeyWithPassphrase([]byte(*c.PrivateKey), []byte(*c.PrivateKeyPassword))
		} else {
			signer, err = ssh.ParsePrivateKey([]byte(*c.PrivateKey))
		}
		if err != nil {
			return nil, err
		}
		config.Auth = append(config.Auth, ssh.PublicKeys(signer))
	}
	if c.Password != nil {
		password := *c.Password
		config.Auth = append(config.Auth, ssh.Password(password),
			ssh.KeyboardInteractive(func(_, _ string, questions []string, _ []bool) ([]string, error) {
				answers := make([]string, len(questions))
				for i := range answers {
					answers[i] = password
				}
				return answers, nil
			}))
	}
	socket := ""
	if c.AgentSocketPath != nil {
		socket = *c.AgentSocketPath
	} else {
		socket = os.Getenv("SSH_AUTH_SOCK")
	}
	if socket != "" {
		// As the real provider: an agent socket that cannot be reached fails the run (it is not a dial).
		conn, err := net.Dial("unix", socket)
		if err != nil {
			return nil, err
		}
		config.Auth = append(config.Auth, ssh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	return config, nil
}

// limitReached follows reachedDialingErrorLimit: with a limit of N >= 0 the (N+1)th failed dial is the
// last, so N is the number of retries after the first failure; -1 (or less) never stops.
func limitReached(dials, limit int) bool {
	return limit > -1 && dials > limit
}

// dialWithRetry follows the real dialWithRetry: f is tried until it succeeds or the limit is reached,
// pausing between tries as sdk/v3's retry.Until does by default (100 ms, then ×1.5 each time, at most
// 5 s). Each failure that is retried is reported as a status line "<what> <n>/<limit> failed:
// retrying" (limit "inf" when unlimited); the last one fails with "after <n> failed attempts: <the
// dial's error>", where n counts the retries (the real provider's wording and count). A cancelled
// context ends the retries with the context's error.
func dialWithRetry[T any](ctx context.Context, what string, limit int, status func(string), f func() (T, error)) (T, error) {
	var zero T
	ok, data, err := retry.Until(ctx, retry.Acceptor{
		Accept: func(try int, _ time.Duration) (bool, any, error) {
			result, dialErr := f()
			if dialErr == nil {
				return true, result, nil
			}
			dials := try + 1
			if limitReached(dials, limit) {
				return true, nil, fmt.Errorf("after %d failed attempts: %w", try, dialErr)
			}
			shown := "inf"
			if limit != -1 {
				shown = strconv.Itoa(limit)
			}
			status(fmt.Sprintf("%s %d/%s failed: retrying", what, dials, shown))
			return false, nil, nil
		},
	})
	if ok && err == nil {
		return data.(T), nil
	}
	if err == nil {
		err = ctx.Err()
	}
	return zero, err
}

// dial follows Connection.Dial: straight to host:port, or through the proxy (dial the proxy, dial the
// host from it, then the SSH handshake over that tunnel), each step retried under its own limit and
// every failure of the proxied path prefixed "proxy: ".
func (c *connection) dial(ctx context.Context, status func(string)) (*ssh.Client, error) {
	config, err := c.sshConfig()
	if err != nil {
		return nil, err
	}
	endpoint, err := c.endpoint()
	if err != nil {
		return nil, err
	}
	limit := c.dialErrorLimit()
	if c.Proxy == nil {
		return dialWithRetry(ctx, "Dial", limit, status, func() (*ssh.Client, error) {
			return ssh.Dial("tcp", endpoint, config)
		})
	}

	proxyConfig, err := c.Proxy.sshConfig()
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	proxyEndpoint, err := c.Proxy.endpoint()
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	proxyClient, err := dialWithRetry(ctx, "Dial proxy", c.Proxy.dialErrorLimit(), status, func() (*ssh.Client, error) {
		return ssh.Dial("tcp", proxyEndpoint, proxyConfig)
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	tunnel, err := dialWithRetry(ctx, "Dial from proxy", limit, status, func() (net.Conn, error) {
		return proxyClient.Dial("tcp", endpoint)
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	var chans <-chan ssh.NewChannel
	var reqs <-chan *ssh.Request
	conn, err := dialWithRetry(ctx, "Dial", limit, status, func() (ssh.Conn, error) {
		conn, ch, r, err := ssh.NewClientConn(tunnel, endpoint, config)
		chans, reqs = ch, r
		return conn, err
	})
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	return ssh.NewClient(conn, chans, reqs), nil
}
