/* A tiny static HTTP server: answers every request with a greeting. It is built on the
   host as a static binary so the image needs no base image (FROM scratch) and builds
   with no network. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    const char *port_env = getenv("PORT");
    int port = port_env ? atoi(port_env) : 8080;
    int server = socket(AF_INET, SOCK_STREAM, 0);
    int yes = 1;
    setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
    if (bind(server, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(server, 16) < 0) {
        perror("hello-server");
        return 1;
    }
    printf("hello-server listening on %d\n", port);
    fflush(stdout);
    const char *reply = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 18\r\n"
                        "Connection: close\r\n\r\nHello from Slipway\n";
    for (;;) {
        int client = accept(server, NULL, NULL);
        if (client < 0) continue;
        char buffer[1024];
        (void)read(client, buffer, sizeof buffer);
        (void)write(client, reply, strlen(reply));
        close(client);
    }
}
