package main

// Running one command over SSH, as the real provider does in
// provider/pkg/provider/remote/commandOutputs.go (CommandOutputs.run, logAndWrapSetenvErr), with the
// line logging of provider/pkg/provider/util/util.go (LogOutput) and the `logging` choices of
// provider/pkg/provider/remote/logging.go, at 7f3eb6f3b77c.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
)

const (
	envPreviousStdout = "PULUMI_COMMAND_STDOUT"
	envPreviousStderr = "PULUMI_COMMAND_STDERR"
)

// commandState is a remote.Command's inputs and outputs as the provider works with them.
type commandState struct {
	Connection             *connection
	Create, Update, Delete *string
	Stdin                  *string
	Logging                *string // stdout, stderr, stdoutAndStderr, none; nil: both
	Environment            map[string]string
	AddPreviousOutputInEnv *bool // nil: true
	Stdout, Stderr         string
}

func (s *commandState) logsStdout() bool {
	return s.Logging == nil || *s.Logging == "stdout" || *s.Logging == "stdoutAndStderr"
}

func (s *commandState) logsStderr() bool {
	return s.Logging == nil || *s.Logging == "stderr" || *s.Logging == "stdoutAndStderr"
}

// logger reports on one resource: status lines and diagnostics.
type logger struct {
	sink logSink
	urn  string
}

func (l logger) status(ctx context.Context, msg string) { l.sink.Log(ctx, diag.Info, l.urn, msg, true) }
func (l logger) log(ctx context.Context, sev diag.Severity, msg string) {
	l.sink.Log(ctx, sev, l.urn, msg, false)
}

// setenvRefused is the real provider's message when the server refuses an environment variable (sshd
// without AcceptEnv for it), logged as an error for `environment` (which then fails the run) and as a
// warning for PULUMI_COMMAND_STDOUT/STDERR (which do not). The text, line breaks and tab included, is
// the real one's, since users see it.
func setenvRefused(key string) string {
	return fmt.Sprintf(`Unable to set '%s'. This only works if your SSH server is configured to accept
	these variables via AcceptEnv. Alternatively, if a Bash-like shell runs the command on the remote host, you could
	prefix the command itself with the variables in the form 'VAR=value command'`, key)
}

// lockedWriter lets stdout and stderr, copied by two goroutines, share one buffer.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}

// run runs cmd on the connection's host, as CommandOutputs.run: dial (with retries), one session,
// `environment` set with Setenv (a refusal fails the run), the previous stdout/stderr set as
// PULUMI_COMMAND_STDOUT/STDERR when non-empty and addPreviousOutputInEnv is not false (a refusal only
// warns), stdin given when non-empty (the session sends EOF after it, or at once without it), the
// command's lines streamed to the engine as status lines of the resource per `logging`. A failure
// (exit status, signal, lost connection) is "<error>: running \"<cmd>\":\n<stdout and stderr as they
// interleaved>", and the outputs are left as they were; on success Stdout and Stderr are replaced by
// the new ones, each without one trailing newline.
func (s *commandState) run(ctx context.Context, cmd string, l logger) error {
	if s.Connection == nil {
		return fmt.Errorf("connection is required")
	}
	client, err := s.Connection.dial(ctx, func(msg string) { l.status(ctx, msg) })
	if err != nil {
		return err
	}
	// The real provider leaves the client open until the plugin exits; closing it changes nothing the
	// command or the engine can see.
	defer client.Close()

	session, err := client.NewSession()
	if err != nil {
		return err
	}
	defer session.Close()

	for k, v := range s.Environment {
		if err := session.Setenv(k, v); err != nil {
			l.log(ctx, diag.Error, setenvRefused(k))
			return fmt.Errorf("could not set environment variable %q: %w", k, err)
		}
	}
	if s.AddPreviousOutputInEnv == nil || *s.AddPreviousOutputInEnv {
		if s.Stdout != "" {
			if err := session.Setenv(envPreviousStdout, s.Stdout); err != nil {
				l.log(ctx, diag.Warning, setenvRefused(envPreviousStdout))
			}
		}
		if s.Stderr != "" {
			if err := session.Setenv(envPreviousStderr, s.Stderr); err != nil {
				l.log(ctx, diag.Warning, setenvRefused(envPreviousStderr))
			}
		}
	}
	if s.Stdin != nil && len(*s.Stdin) > 0 {
		session.Stdin = strings.NewReader(*s.Stdin)
	}

	var stdout, stderr, combined bytes.Buffer
	var combinedMu, logMu sync.Mutex
	both := lockedWriter{&combinedMu, &combined}
	logR, logW := io.Pipe()
	logged := lockedWriter{&logMu, logW}
	outWriters := []io.Writer{&stdout, both}
	if s.logsStdout() {
		outWriters = append(outWriters, logged)
	}
	errWriters := []io.Writer{&stderr, both}
	if s.logsStderr() {
		errWriters = append(errWriters, logged)
	}
	session.Stdout = io.MultiWriter(outWriters...)
	session.Stderr = io.MultiWriter(errWriters...)

	logDone := make(chan struct{})
	go func() {
		defer close(logDone)
		scanner := bufio.NewScanner(logR)
		for scanner.Scan() {
			l.status(ctx, scanner.Text())
		}
		// A line longer than the scanner's buffer ends the logging, as in the real provider; keep
		// draining so the command is never blocked on the pipe.
		_, _ = io.Copy(io.Discard, logR)
	}()

	err = session.Run(cmd)
	_ = logW.Close()
	<-logDone

	if err != nil {
		return fmt.Errorf("%w: running %q:\n%s", err, cmd, combined.String())
	}
	s.Stdout = strings.TrimSuffix(stdout.String(), "\n")
	s.Stderr = strings.TrimSuffix(stderr.String(), "\n")
	return nil
}
