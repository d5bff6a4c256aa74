// Command greeter is the Go peer of tests/grpc (grpc_go_test.cc): a gRPC
// server and client for terngrpc.Greeter (tests/grpc/greeter.proto), built
// with Debian's grpc-go (golang-google-grpc-dev) offline in GOPATH mode.
// grpc-go is an HTTP/2 and gRPC stack no one here wrote, which is the point.
//
// No generated code: Debian ships neither protoc-gen-go-grpc nor the
// google.golang.org/protobuf runtime, so the services are declared with
// grpc.ServiceDesc, messages travel as raw bytes through a codec registered
// under the name "proto" (it replaces grpc-go's own, in this process only),
// and the few tiny messages of greeter.proto are encoded by hand below.
//
//	greeter serve [gzip]
//	    listens on 127.0.0.1 and a free port, prints "PORT <n>", serves until
//	    stdin closes (with gzip: every response message gzip-compressed). Prints "EVENT <what> key=value..." when a handler ends
//	    for a reason the tests check (cancellation, deadline).
//	greeter client <host:port> [case...]
//	    runs the cases (all when none is named) against a Greeter server and
//	    prints one line per case: "<case> key=value...", values
//	    percent-encoded (url.PathEscape). The verdict is the caller's (the
//	    test asserts the values); the exit code is 0 unless the arguments are
//	    wrong.
//
// Handlers (the same as the Tern provider's in grpc_go_test.cc):
//
//	Hello  "hello, <name>"; user and token from the x-user and x-token-bin
//	       metadata (token = payload when a payload is sent: the size test);
//	       remaining_ms the deadline seen (-1: none); waits delay_ms unless the
//	       call ends first; trailers x-served-by=grpc-go, x-raw-bin=00 01 ff.
//	Fail   PERMISSION_DENIED "no entry for <name> (100%)".
//	Count  1..n.             Sum   total and count of the Nums.
//	Chat   each Num doubled.  Hang  echoes each message as it came (an
//	                                acknowledgement) and never ends on its own:
//	                                only a cancel or the deadline.
package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/gzip" // the gzip case; the server answers gzip requests in gzip
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ---- raw-bytes codec ------------------------------------------------------

type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	switch b := v.(type) {
	case []byte:
		return b, nil
	case *[]byte:
		return *b, nil
	}
	return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	*b = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }

func init() { encoding.RegisterCodec(rawCodec{}) }

// ---- protobuf by hand -----------------------------------------------------

func putVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

// A varint field (int32/int64; negative values as ten bytes, as protobuf does).
func putInt(b []byte, field int, v int64) []byte {
	if v == 0 {
		return b
	}
	b = putVarint(b, uint64(field)<<3)
	return putVarint(b, uint64(v))
}

// A length-delimited field (string, bytes).
func putBytes(b []byte, field int, v []byte) []byte {
	if len(v) == 0 {
		return b
	}
	b = putVarint(b, uint64(field)<<3|2)
	b = putVarint(b, uint64(len(v)))
	return append(b, v...)
}

// fields: the last value of each field number (varints as uint64, the rest as []byte).
type fields struct {
	ints  map[int]uint64
	bytes map[int][]byte
}

func (f fields) int(n int) int64  { return int64(f.ints[n]) }
func (f fields) str(n int) string { return string(f.bytes[n]) }

func varint(b []byte) (uint64, int, error) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * uint(i))
		if b[i] < 0x80 {
			return v, i + 1, nil
		}
	}
	return 0, 0, errors.New("bad varint")
}

func parse(b []byte) (fields, error) {
	f := fields{map[int]uint64{}, map[int][]byte{}}
	for len(b) > 0 {
		key, n, err := varint(b)
		if err != nil {
			return f, err
		}
		b = b[n:]
		field, wire := int(key>>3), key&7
		switch wire {
		case 0:
			v, n, err := varint(b)
			if err != nil {
				return f, err
			}
			f.ints[field] = v
			b = b[n:]
		case 2:
			l, n, err := varint(b)
			if err != nil || uint64(len(b)-n) < l {
				return f, errors.New("bad length")
			}
			f.bytes[field] = b[n : n+int(l)]
			b = b[n+int(l):]
		case 1:
			if len(b) < 8 {
				return f, errors.New("short fixed64")
			}
			b = b[8:]
		case 5:
			if len(b) < 4 {
				return f, errors.New("short fixed32")
			}
			b = b[4:]
		default:
			return f, fmt.Errorf("wire type %d", wire)
		}
	}
	return f, nil
}

// HelloRequest: name=1, delay_ms=2, payload=3.
func helloRequest(name string, delayMs int64, payload []byte) []byte {
	b := putBytes(nil, 1, []byte(name))
	b = putInt(b, 2, delayMs)
	return putBytes(b, 3, payload)
}

// HelloReply: text=1, remaining_ms=2, user=3, token=4.
func helloReply(text string, remainingMs int64, user string, token []byte) []byte {
	b := putBytes(nil, 1, []byte(text))
	b = putInt(b, 2, remainingMs)
	b = putBytes(b, 3, []byte(user))
	return putBytes(b, 4, token)
}

// Num: value=1. CountRequest: n=1. SumReply: total=1, count=2.
func num(v int64) []byte { return putInt(nil, 1, v) }

func badRequest(err error) error {
	return status.Errorf(codes.InvalidArgument, "request does not parse: %v", err)
}

// ---- server ---------------------------------------------------------------

func event(what string, kv ...string) {
	fmt.Println("EVENT " + what + " " + strings.Join(kv, " "))
}

func firstMD(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func hello(_ interface{}, ctx context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
	var in []byte
	if err := dec(&in); err != nil {
		return nil, err
	}
	req, err := parse(in)
	if err != nil {
		return nil, badRequest(err)
	}
	name := req.str(1)
	if d := req.int(2); d > 0 {
		select {
		case <-time.After(time.Duration(d) * time.Millisecond):
		case <-ctx.Done():
			event("hello-ended", "name="+esc(name), "err="+esc(status.FromContextError(ctx.Err()).Code().String()))
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	md, _ := metadata.FromIncomingContext(ctx)
	remaining := int64(-1)
	if dl, ok := ctx.Deadline(); ok {
		remaining = time.Until(dl).Milliseconds()
	}
	token := []byte(firstMD(md, "x-token-bin"))
	if p := req.bytes[3]; len(p) > 0 {
		token = p
	}
	grpc.SetTrailer(ctx, metadata.Pairs("x-served-by", "grpc-go", "x-raw-bin", "\x00\x01\xff"))
	return helloReply("hello, "+name, remaining, firstMD(md, "x-user"), token), nil
}

func fail(_ interface{}, _ context.Context, dec func(interface{}) error, _ grpc.UnaryServerInterceptor) (interface{}, error) {
	var in []byte
	if err := dec(&in); err != nil {
		return nil, err
	}
	req, err := parse(in)
	if err != nil {
		return nil, badRequest(err)
	}
	return nil, status.Error(codes.PermissionDenied, "no entry for "+req.str(1)+" (100%)")
}

func recvNum(s grpc.ServerStream) (int64, error) {
	var in []byte
	if err := s.RecvMsg(&in); err != nil {
		return 0, err
	}
	f, err := parse(in)
	if err != nil {
		return 0, badRequest(err)
	}
	return f.int(1), nil
}

func count(_ interface{}, s grpc.ServerStream) error {
	n, err := recvNum(s)
	if err != nil {
		return err
	}
	// "EVENT count-blocked n=<n>" once sending made no progress for 300 ms
	// (the reader stopped and flow control holds the writer).
	var sent int64
	done := make(chan struct{})
	defer close(done)
	go func() {
		last, still := int64(-1), 0
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			if cur := atomic.LoadInt64(&sent); cur != last {
				last, still = cur, 0
			} else if still++; still == 3 {
				event("count-blocked", fmt.Sprintf("n=%d", n))
				return
			}
		}
	}()
	for i := int64(1); i <= n; i++ {
		if err := s.SendMsg(num(i)); err != nil {
			return err
		}
		atomic.AddInt64(&sent, 1)
	}
	return nil
}

func sum(_ interface{}, s grpc.ServerStream) error {
	var total, n int64
	for {
		v, err := recvNum(s)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		total += v
		n++
	}
	return s.SendMsg(putInt(putInt(nil, 1, total), 2, n))
}

func chat(_ interface{}, s grpc.ServerStream) error {
	for {
		v, err := recvNum(s)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.SendMsg(num(2 * v)); err != nil {
			return err
		}
	}
}

func hang(_ interface{}, s grpc.ServerStream) error {
	first := int64(0)
	for i := 0; ; i++ {
		var in []byte
		err := s.RecvMsg(&in)
		if err == nil {
			if i == 0 {
				f, perr := parse(in)
				if perr != nil {
					return badRequest(perr)
				}
				first = f.int(1)
			}
			err = s.SendMsg(in) // the message as it came, unknown fields too
		}
		if err == io.EOF {
			// The client half-closed; keep hanging until the call ends.
			<-s.Context().Done()
			err = s.Context().Err()
		}
		if err != nil {
			code := status.Code(err)
			if cerr := s.Context().Err(); cerr != nil {
				code = status.FromContextError(cerr).Code()
			}
			event("hang-ended", fmt.Sprintf("first=%d", first), "code="+code.String())
			return err
		}
	}
}

var greeterDesc = grpc.ServiceDesc{
	ServiceName: "terngrpc.Greeter",
	HandlerType: (*interface{})(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Hello", Handler: hello},
		{MethodName: "Fail", Handler: fail},
	},
	Streams: []grpc.StreamDesc{
		{StreamName: "Count", Handler: count, ServerStreams: true},
		{StreamName: "Sum", Handler: sum, ClientStreams: true},
		{StreamName: "Chat", Handler: chat, ServerStreams: true, ClientStreams: true},
		{StreamName: "Hang", Handler: hang, ServerStreams: true, ClientStreams: true},
	},
	Metadata: "greeter.proto",
}

func serve(gzip bool) error {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(64 << 20)}
	if gzip {
		// Every response message gzip-compressed, whatever the client accepts
		// (grpc-go 1.33 has no per-call choice on the server).
		opts = append(opts, grpc.RPCCompressor(grpc.NewGZIPCompressor()))
	}
	srv := grpc.NewServer(opts...)
	srv.RegisterService(&greeterDesc, struct{}{})
	fmt.Printf("PORT %d\n", lis.Addr().(*net.TCPAddr).Port)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin) // the test closed stdin, or died
		srv.Stop()
	}()
	return srv.Serve(lis)
}

// ---- client ---------------------------------------------------------------

func esc(s string) string { return url.PathEscape(s) }

// result: one line of "<case> key=value...", in the order added.
type result struct {
	name string
	kv   []string
}

func (r *result) add(k string, v interface{}) { r.kv = append(r.kv, k+"="+esc(fmt.Sprint(v))) }
func (r *result) status(err error) {
	st := status.Convert(err)
	r.add("code", st.Code().String())
	r.add("msg", st.Message())
}

// after: one more call on the same connection once a stream was cancelled
// (by the client or by its deadline). grpc-go queues the RST_STREAM ahead of
// this call's HEADERS, so the server has seen the cancel once it answers;
// exiting at once instead could close the connection before the RST_STREAM
// is written, and the server would see a lost connection, not a cancel.
func (r *result) after(c *client) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := c.unary(ctx, "Hello", helloRequest("after", 0, nil))
	f, _ := parse(out)
	r.add("after", status.Code(err).String()+":"+f.str(1))
}

func (r *result) String() string { return strings.Join(append([]string{r.name}, r.kv...), " ") }

type client struct {
	conn *grpc.ClientConn
}

func (c *client) unary(ctx context.Context, method string, req []byte, opts ...grpc.CallOption) ([]byte, error) {
	var out []byte
	err := c.conn.Invoke(ctx, "/terngrpc.Greeter/"+method, req, &out, opts...)
	return out, err
}

func (c *client) stream(ctx context.Context, method string) (grpc.ClientStream, error) {
	desc := &grpc.StreamDesc{StreamName: method, ServerStreams: true, ClientStreams: true}
	return c.conn.NewStream(ctx, desc, "/terngrpc.Greeter/"+method)
}

func recvInts(s grpc.ClientStream) (fields, error) {
	var in []byte
	if err := s.RecvMsg(&in); err != nil {
		return fields{}, err
	}
	return parse(in)
}

func addReply(r *result, out []byte) {
	f, err := parse(out)
	if err != nil {
		r.add("parse", err.Error())
		return
	}
	r.add("text", f.str(1))
	r.add("remaining_ms", f.int(2))
	r.add("user", f.str(3))
	r.add("token_hex", hex.EncodeToString(f.bytes[4]))
}

var cases = []struct {
	name string
	run  func(c *client, r *result)
}{
	{"unary", func(c *client, r *result) {
		out, err := c.unary(context.Background(), "Hello", helloRequest("go", 0, nil))
		r.status(err)
		addReply(r, out)
	}},
	{"metadata", func(c *client, r *result) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "x-user", "gopher", "x-token-bin", "\x01\x00\xfe")
		var header, trailer metadata.MD
		out, err := c.unary(ctx, "Hello", helloRequest("md", 0, nil), grpc.Header(&header), grpc.Trailer(&trailer))
		r.status(err)
		addReply(r, out)
		r.add("trailer_x_served_by", firstMD(trailer, "x-served-by"))
		r.add("trailer_x_raw_bin_hex", hex.EncodeToString([]byte(firstMD(trailer, "x-raw-bin"))))
	}},
	{"error", func(c *client, r *result) {
		_, err := c.unary(context.Background(), "Fail", helloRequest("zoë", 0, nil))
		r.status(err)
	}},
	{"unimplemented", func(c *client, r *result) {
		_, err := c.unary(context.Background(), "Nope", helloRequest("x", 0, nil))
		r.status(err)
	}},
	{"deadline", func(c *client, r *result) {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		t0 := time.Now()
		_, err := c.unary(ctx, "Hello", helloRequest("slow", 3000, nil))
		r.status(err)
		r.add("elapsed_ms", time.Since(t0).Milliseconds())
	}},
	{"server_stream", func(c *client, r *result) {
		s, err := c.stream(context.Background(), "Count")
		if err == nil {
			err = s.SendMsg(putInt(nil, 1, 2000))
		}
		if err == nil {
			err = s.CloseSend()
		}
		n, inOrder := int64(0), true
		for err == nil {
			var f fields
			if f, err = recvInts(s); err == nil {
				n++
				inOrder = inOrder && f.int(1) == n
			}
		}
		if err == io.EOF {
			err = nil
		}
		r.status(err)
		r.add("received", n)
		r.add("in_order", inOrder)
	}},
	{"client_stream", func(c *client, r *result) {
		s, err := c.stream(context.Background(), "Sum")
		for i := int64(1); err == nil && i <= 100; i++ {
			err = s.SendMsg(num(i))
		}
		if err == nil {
			err = s.CloseSend()
		}
		var f fields
		if err == nil {
			f, err = recvInts(s)
		}
		if err == nil {
			if _, end := recvInts(s); end != io.EOF {
				err = end
			}
		}
		r.status(err)
		r.add("total", f.int(1))
		r.add("count", f.int(2))
	}},
	{"bidi", func(c *client, r *result) {
		s, err := c.stream(context.Background(), "Chat")
		doubled := 0
		for i := int64(1); err == nil && i <= 50; i++ {
			if err = s.SendMsg(num(i)); err == nil {
				var f fields
				if f, err = recvInts(s); err == nil && f.int(1) == 2*i {
					doubled++
				}
			}
		}
		if err == nil {
			err = s.CloseSend()
		}
		if err == nil {
			if _, end := recvInts(s); end != io.EOF {
				err = end
			}
		}
		r.status(err)
		r.add("doubled", doubled)
	}},
	{"cancel", func(c *client, r *result) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s, err := c.stream(ctx, "Hang")
		var ack fields
		if err == nil {
			err = s.SendMsg(num(7))
		}
		if err == nil {
			ack, err = recvInts(s) // the handler runs: cancel it now
		}
		r.add("ack", ack.int(1))
		if err == nil {
			cancel()
			_, err = recvInts(s)
		}
		r.status(err)
		r.after(c)
	}},
	{"stream_deadline", func(c *client, r *result) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		t0 := time.Now()
		s, err := c.stream(ctx, "Hang")
		var ack fields
		if err == nil {
			err = s.SendMsg(num(8))
		}
		if err == nil {
			ack, err = recvInts(s)
		}
		r.add("ack", ack.int(1))
		if err == nil {
			_, err = recvInts(s)
		}
		r.status(err)
		r.add("elapsed_ms", time.Since(t0).Milliseconds())
		r.after(c)
	}},
	{"gzip", func(c *client, r *result) {
		name := strings.Repeat("z", 10000)
		out, err := c.unary(context.Background(), "Hello", helloRequest(name, 0, nil), grpc.UseCompressor("gzip"))
		r.status(err)
		f, _ := parse(out)
		r.add("text_ok", f.str(1) == "hello, "+name)
	}},
	{"empty", func(c *client, r *result) {
		// Zero-length messages: an empty HelloRequest, a CountRequest for 0.
		out, err := c.unary(context.Background(), "Hello", nil)
		r.status(err)
		r.add("reply_len", len(out))
		f, _ := parse(out)
		r.add("text", f.str(1))
		s, err := c.stream(context.Background(), "Count")
		if err == nil {
			err = s.SendMsg([]byte{})
		}
		if err == nil {
			err = s.CloseSend()
		}
		n := 0
		for err == nil {
			if _, err = recvInts(s); err == nil {
				n++
			}
		}
		if err == io.EOF {
			err = nil
		}
		r.add("count_code", status.Code(err).String())
		r.add("count_received", n)
	}},
	{"concurrent", func(c *client, r *result) {
		// 100 bidi streams open at once on one connection, 10 round trips each.
		const streams, trips = 100, 10
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, codesSeen := 0, map[string]int{}
		start := make(chan struct{})
		for i := 0; i < streams; i++ {
			wg.Add(1)
			go func(i int64) {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				s, err := c.stream(ctx, "Chat")
				<-start
				good := 0
				for k := int64(1); err == nil && k <= trips; k++ {
					if err = s.SendMsg(num(i*1000 + k)); err == nil {
						var f fields
						if f, err = recvInts(s); err == nil && f.int(1) == 2*(i*1000+k) {
							good++
						}
					}
				}
				if err == nil {
					err = s.CloseSend()
				}
				if err == nil {
					if _, end := recvInts(s); end != io.EOF {
						err = end
					}
				}
				mu.Lock()
				defer mu.Unlock()
				codesSeen[status.Code(err).String()]++
				if err == nil && good == trips {
					ok++
				}
			}(int64(i))
		}
		close(start)
		wg.Wait()
		r.add("ok_streams", ok)
		keys := []string{}
		for k, v := range codesSeen {
			keys = append(keys, fmt.Sprintf("%s:%d", k, v))
		}
		r.add("codes", strings.Join(keys, ","))
	}},
	{"big_stream", func(c *client, r *result) {
		// Four 2 MiB messages through Hang (echo), written while the echoes
		// are read: far past HTTP/2's initial 64 KiB windows and the 1 MiB
		// stream windows of Tern, both ways. Num{value: i} plus an unknown
		// field 3 of 2 MiB, which the echo keeps.
		const n, size = 4, 2 << 20
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := c.stream(ctx, "Hang")
		msg := func(i int64) []byte {
			p := bytes.Repeat([]byte{byte('a' + i)}, size)
			return putBytes(putInt(nil, 1, i), 3, p)
		}
		echoed := make(chan int, 1)
		go func() {
			good := 0
			for i := int64(1); s != nil && i <= n; i++ {
				var in []byte
				if s.RecvMsg(&in) != nil {
					break
				}
				if bytes.Equal(in, msg(i)) {
					good++
				}
			}
			echoed <- good
		}()
		for i := int64(1); err == nil && i <= n; i++ {
			err = s.SendMsg(msg(i))
		}
		good := 0
		if err == nil {
			good = <-echoed
		}
		r.add("send", status.Code(err).String())
		r.add("echoed", good)
		cancel()
		if err == nil { // the reader above is done: this is the only RecvMsg
			// As in "cancel": a read after cancel() returns once grpc-go has
			// queued the RST_STREAM, so it leaves before the next call's
			// HEADERS and the provider sees the cancel, not the close.
			var in []byte
			_ = s.RecvMsg(&in)
		}
		r.after(c)
	}},
	{"stalled_stream", func(c *client, r *result) {
		// A stream whose handler stops reading (Count reads its request, then
		// only writes, and this client reads none of it) while the client
		// keeps sending: that stream's window closes, and a unary call on
		// the same connection must still be answered.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s, err := c.stream(ctx, "Count")
		if err == nil {
			err = s.SendMsg(putInt(nil, 1, 1000000))
		}
		sent := make(chan int, 1)
		go func() {
			extra := putBytes(putInt(nil, 1, 1), 3, make([]byte, 64<<10))
			i := 0
			defer func() { sent <- i }()
			for ; i < 64 && s != nil; i++ { // 4 MiB: past every window
				if s.SendMsg(extra) != nil {
					return
				}
			}
		}()
		r.add("open", status.Code(err).String())
		select { // the sender is done, or blocked by a closed window
		case n := <-sent:
			r.add("sent", n)
		case <-time.After(time.Second):
			r.add("sent", "blocked")
		}
		uctx, ucancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer ucancel()
		out, err := c.unary(uctx, "Hello", helloRequest("beside", 0, nil))
		f, _ := parse(out)
		r.status(err)
		r.add("text", f.str(1))
		cancel()
		r.after(c)
	}},
	{"large", func(c *client, r *result) {
		payload := make([]byte, 4<<20)
		for i := range payload {
			payload[i] = byte(i * 7)
		}
		out, err := c.unary(context.Background(), "Hello", helloRequest("big", 0, payload))
		r.status(err)
		f, perr := parse(out)
		if perr != nil {
			r.add("parse", perr.Error())
		}
		r.add("text", f.str(1))
		r.add("token_len", len(f.bytes[4]))
		r.add("token_equal", bytes.Equal(f.bytes[4], payload))
	}},
}

func runClient(target string, names []string) error {
	dial, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := grpc.DialContext(dial, target, grpc.WithInsecure(), grpc.WithBlock(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		return err
	}
	defer conn.Close()
	c := &client{conn}
	all, want := len(names) == 0, map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, tc := range cases {
		if !all && !want[tc.name] {
			continue
		}
		delete(want, tc.name)
		r := &result{name: tc.name}
		tc.run(c, r)
		fmt.Println(r)
	}
	for n := range want {
		return fmt.Errorf("no case %q", n)
	}
	return nil
}

func main() {
	var err error
	switch {
	case len(os.Args) == 2 && os.Args[1] == "serve":
		err = serve(false)
	case len(os.Args) == 3 && os.Args[1] == "serve" && os.Args[2] == "gzip":
		err = serve(true)
	case len(os.Args) >= 3 && os.Args[1] == "client":
		err = runClient(os.Args[2], os.Args[3:])
	default:
		err = errors.New("usage: greeter serve [gzip] | greeter client <host:port> [case...]")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "greeter:", err)
		os.Exit(2)
	}
}
