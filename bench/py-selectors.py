#!/usr/bin/env python3
# py-selectors.py: the selectors echo server of the second source article
# (shared/seeds/001: "Python selectors实现socket并发", "实现接收上万并发": ten thousand
# concurrent connections), as the article shows it, for the bench's reference rows.
# selectors.DefaultSelector is epoll on Linux.
#
# The callbacks and the loop are the article's, with only these changes:
# - fixed where it crashes: a reset connection (recv or send raising OSError) is closed
#   like a peer that left, instead of killing the server; a send the socket does not
#   take at all (BlockingIOError, the article's "Hope it won't block") is caught too,
#   and those bytes are lost, as the article's code loses what a short send() leaves:
#   the bench counts them as mismatches or errors if that ever happens;
# - the bench's contract around the loop: -p PORT (0: a free one), the "listening on
#   HOST:PORT" line, -q (the article prints a line per event; -q silences print, as the
#   labs' -q does), SIGTERM ends it with status 0, -m is accepted and ignored.
import getopt
import selectors
import signal
import socket
import sys


def stop(signum, frame):
    raise SystemExit(0)


opts, _ = getopt.getopt(sys.argv[1:], "H:p:m:q")
host, port, quiet = "127.0.0.1", 9000, False
for o, a in opts:
    if o == "-H":
        host = a
    elif o == "-p":
        port = int(a)
    elif o == "-q":
        quiet = True
if quiet:
    def print(*args, **kwargs):
        pass
signal.signal(signal.SIGTERM, stop)

# 生成select实例对象
sel = selectors.DefaultSelector()


def accept(sock, mask):
    # 接收链接
    conn, addr = sock.accept()  # Should be ready
    print('accepted', conn, 'from', addr)
    # 链接设置非阻塞模式
    conn.setblocking(False)
    # 注册conn,回调 read函数
    sel.register(conn, selectors.EVENT_READ, read)


def read(conn, mask):
    try:
        data = conn.recv(1024)  # Should be ready
        if data:
            print('echoing', repr(data), 'to', conn)
            conn.send(data)  # Hope it won't block
            return
    except BlockingIOError:
        return
    except OSError:
        pass
    print('closing', conn)
    # 取消注册
    sel.unregister(conn)
    # 关闭链接
    conn.close()


sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind((host, port))
sock.listen(10000)
sock.setblocking(False)
sys.stdout.write("listening on %s:%d\n" % sock.getsockname())
sys.stdout.flush()
# 注册server事件:
# 参数一:sock 进行监听
# 参数二:selectors.EVENT_READ 执行动作
# 参数三:accept,只要来一个链接就回调这个函数
sel.register(sock, selectors.EVENT_READ, accept)
try:
    while True:
        # 调用select:优先使用epoll
        events = sel.select()
        for key, mask in events:
            # callback相当于调accept函数
            callback = key.data
            # 获取函数内存地址,加入参数
            # key.fileobj = 文件句柄
            callback(key.fileobj, mask)
finally:
    sock.close()
