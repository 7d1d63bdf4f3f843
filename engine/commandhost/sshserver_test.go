package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
)

// testServer is an SSH server on 127.0.0.1 in the test process (golang.org/x/crypto/ssh), standing
// for a VM's sshd: public-key login for one client key, `exec` runs `bash -c` with the channel as
// stdin/stdout/stderr and sends the exit status, `env` requests are accepted only when acceptEnv is
// set (sshd's AcceptEnv; off by default, as on a stock image and Local Azure's guest).
type testServer struct {
	addr       string
	host       string
	port       int
	hostKey    ssh.Signer
	clientKey  string // OpenSSH private key text for connection.privateKey
	acceptEnv  bool
	handshakes atomic.Int32 // TCP connections that reached the SSH handshake
	forwards   atomic.Int32 // direct-tcpip channels opened through this server as a bastion
	ln         net.Listener
}

func newEd25519Signer(t *testing.T) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer, priv
}

func newECDSASigner(t *testing.T) ssh.Signer {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer
}

// authorizedLine is the OpenSSH public key line of a signer, as connection.hostKey takes it.
func authorizedLine(s ssh.Signer) string {
	return string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(s.PublicKey())))
}

func startTestServer(t *testing.T, acceptEnv bool) *testServer {
	t.Helper()
	hostKey, _ := newEd25519Signer(t)
	clientSigner, clientPriv := newEd25519Signer(t)
	block, err := ssh.MarshalPrivateKey(clientPriv, "")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	s := &testServer{
		addr: ln.Addr().String(), host: addr.IP.String(), port: addr.Port,
		hostKey: hostKey, clientKey: string(pem.EncodeToMemory(block)), acceptEnv: acceptEnv, ln: ln,
	}
	config := &ssh.ServerConfig{
		PublicKeyCallback: func(_ ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if bytes.Equal(key.Marshal(), clientSigner.PublicKey().Marshal()) {
				return nil, nil
			}
			return nil, errors.New("unknown public key")
		},
	}
	config.AddHostKey(hostKey)
	var wg sync.WaitGroup
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.handshakes.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.serve(conn, config)
			}()
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return s
}

func (s *testServer) serve(conn net.Conn, config *ssh.ServerConfig) {
	sshConn, chans, reqs, err := ssh.NewServerConn(conn, config)
	if err != nil {
		_ = conn.Close()
		return
	}
	defer sshConn.Close()
	go ssh.DiscardRequests(reqs)
	for newChannel := range chans {
		if newChannel.ChannelType() == "direct-tcpip" {
			// A bastion: forward to the requested address (what `ssh -J` and connection.proxy use).
			go s.forward(newChannel)
			continue
		}
		if newChannel.ChannelType() != "session" {
			_ = newChannel.Reject(ssh.UnknownChannelType, "session or direct-tcpip only")
			continue
		}
		ch, requests, err := newChannel.Accept()
		if err != nil {
			continue
		}
		go s.session(ch, requests)
	}
}

func (s *testServer) session(ch ssh.Channel, requests <-chan *ssh.Request) {
	defer ch.Close()
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"}
	for req := range requests {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			if s.acceptEnv && ssh.Unmarshal(req.Payload, &kv) == nil {
				env = append(env, kv.Name+"="+kv.Value)
				_ = req.Reply(true, nil)
			} else {
				_ = req.Reply(false, nil)
			}
		case "exec":
			var payload struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &payload); err != nil {
				_ = req.Reply(false, nil)
				continue
			}
			_ = req.Reply(true, nil)
			cmd := exec.Command("bash", "-c", payload.Command)
			cmd.Env = env
			cmd.Stdin = ch
			cmd.Stdout = ch
			cmd.Stderr = ch.Stderr()
			code := 0
			if err := cmd.Run(); err != nil {
				var exitErr *exec.ExitError
				if errors.As(err, &exitErr) {
					code = exitErr.ExitCode()
				} else {
					code = 127
				}
			}
			_, _ = ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
			return
		default:
			_ = req.Reply(false, nil)
		}
	}
}

func (s *testServer) forward(newChannel ssh.NewChannel) {
	var target struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
	if err := ssh.Unmarshal(newChannel.ExtraData(), &target); err != nil {
		_ = newChannel.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	s.forwards.Add(1)
	conn, err := net.Dial("tcp", net.JoinHostPort(target.Host, fmt.Sprint(target.Port)))
	if err != nil {
		_ = newChannel.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	ch, reqs, err := newChannel.Accept()
	if err != nil {
		_ = conn.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	go func() { _, _ = io.Copy(ch, conn); _ = ch.CloseWrite() }()
	_, _ = io.Copy(conn, ch)
	_ = conn.Close()
}
