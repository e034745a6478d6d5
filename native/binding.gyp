{
  "targets": [
    {
      "target_name": "ping_socket",
      "sources": ["ping_socket.c", "udp_socket.c", "guest_stream.c", "page_offset.c", "malloc_tuning.c", "stream_copy.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"],
      "conditions": [
        ["OS!='linux'", { "type": "none", "sources": [] }]
      ]
    }
  ]
}
