package kv_test

import (
	"bytes"
	"errors"
	"sync"

	"github.com/bevygap/bevygap/pkg/iostreams"
)

var errNotYet = errors.New("not yet")

// syncBuffer lets the test read what a running command writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func iostreamsTest() (*iostreams.IOStreams, *bytes.Buffer, *syncBuffer, *syncBuffer) {
	io, in, _, _ := iostreams.Test()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	io.Out, io.ErrOut = out, errOut
	return io, in, out, errOut
}
