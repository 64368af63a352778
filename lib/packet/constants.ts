/**
 * Wire constants of the link, network and transport headers the codec reads and writes (fixed by
 * their specifications), and the limits of this implementation, kept apart.
 *
 * @module
 */

// ---- Link types (libpcap DLT_* values as returned by `pcap_datalink`, and LINKTYPE_* of files) --

/** BSD loopback: a 4-byte address family in the byte order of the capturing host. */
export const DLT_NULL = 0;
/** Ethernet II, with any number of 802.1Q/802.1ad tags. */
export const DLT_EN10MB = 1;
/** Raw IPv4 or IPv6 (the version nibble tells), as `pcap_datalink` returns it on most systems. */
export const DLT_RAW = 12;
/** Raw IPv4 or IPv6, the value OpenBSD's `pcap_datalink` returns. */
export const DLT_RAW_OPENBSD = 14;
/** Raw IPv4 or IPv6, the link type stored in pcap files (`LINKTYPE_RAW`). */
export const LINKTYPE_RAW = 101;
/** OpenBSD loopback: a 4-byte address family in network byte order. */
export const DLT_LOOP = 108;
/** Linux cooked capture v1 (`-i any` with `-y LINUX_SLL`): a 16-byte header. */
export const DLT_LINUX_SLL = 113;
/** Raw IPv4 only. */
export const DLT_IPV4 = 228;
/** Raw IPv6 only. */
export const DLT_IPV6 = 229;
/** Linux cooked capture v2 (what libpcap 1.10 gives for `-i any`): a 20-byte header. */
export const DLT_LINUX_SLL2 = 276;

// ---- Link headers -----------------------------------------------------------------------------

/** Length of an Ethernet II header: destination MAC, source MAC, EtherType. */
export const ETHERNET_HEADER_LENGTH = 14;
/** Length of one 802.1Q/802.1ad tag: tag control information, then the inner EtherType. */
export const VLAN_TAG_LENGTH = 4;
/** Length of a Linux cooked capture v1 header; its protocol field is the last two bytes. */
export const SLL_HEADER_LENGTH = 16;
/** Length of a Linux cooked capture v2 header; its protocol field is the first two bytes. */
export const SLL2_HEADER_LENGTH = 20;
/** Length of the BSD loopback header (the address family word). */
export const LOOPBACK_HEADER_LENGTH = 4;

/** EtherType of IPv4. */
export const ETHERTYPE_IPV4 = 0x0800;
/** EtherType of IPv6. */
export const ETHERTYPE_IPV6 = 0x86dd;
/** EtherType of an 802.1Q VLAN tag. */
export const ETHERTYPE_VLAN = 0x8100;
/** EtherType of an 802.1ad service tag (the outer tag of Q-in-Q). */
export const ETHERTYPE_QINQ = 0x88a8;
/** Pre-standard EtherType of an outer Q-in-Q tag still used by some switches. */
export const ETHERTYPE_QINQ_LEGACY = 0x9100;

/** `AF_INET` in a loopback header, on every BSD and on Linux. */
export const LOOPBACK_AF_INET = 2;
/** `AF_INET6` on Linux. */
export const LOOPBACK_AF_INET6_LINUX = 10;
/** `AF_INET6` on NetBSD and OpenBSD. */
export const LOOPBACK_AF_INET6_BSD = 24;
/** `AF_INET6` on FreeBSD and DragonFly. */
export const LOOPBACK_AF_INET6_FREEBSD = 28;
/** `AF_INET6` on macOS. */
export const LOOPBACK_AF_INET6_DARWIN = 30;

// ---- IP ---------------------------------------------------------------------------------------

/** Length of an IPv4 header without options. */
export const IPV4_HEADER_LENGTH = 20;
/** Length of the fixed IPv6 header. */
export const IPV6_HEADER_LENGTH = 40;
/** Length of an IPv4 address. */
export const IPV4_ADDRESS_LENGTH = 4;
/** Length of an IPv6 address. */
export const IPV6_ADDRESS_LENGTH = 16;
/** Largest IPv4 total length and largest IPv6 payload length (16-bit fields). */
export const IP_MAX_LENGTH = 0xffff;
/** IPv4 flags: "don't fragment", as it sits in the 16-bit flags/offset word. */
export const IPV4_FLAG_DONT_FRAGMENT = 0x4000;
/** IPv4 flags: "more fragments", as it sits in the 16-bit flags/offset word. */
export const IPV4_FLAG_MORE_FRAGMENTS = 0x2000;
/** Mask of the fragment offset (in 8-byte units) in the IPv4 flags/offset word. */
export const IPV4_FRAGMENT_OFFSET_MASK = 0x1fff;

/** IP protocol number / IPv6 next header: hop-by-hop options (IPv6 extension header). */
export const IPPROTO_HOPOPTS = 0;
/** IP protocol number of ICMP. */
export const IPPROTO_ICMP = 1;
/** IP protocol number of TCP. */
export const IPPROTO_TCP = 6;
/** IP protocol number of UDP. */
export const IPPROTO_UDP = 17;
/** IPv6 next header: routing header. */
export const IPPROTO_ROUTING = 43;
/** IPv6 next header: fragment header. */
export const IPPROTO_FRAGMENT = 44;
/** IP protocol number of ESP (encrypted; the codec stops there). */
export const IPPROTO_ESP = 50;
/** IP protocol number of AH (its length field counts 4-byte units, less two). */
export const IPPROTO_AH = 51;
/** IP protocol number of ICMPv6. */
export const IPPROTO_ICMPV6 = 58;
/** IPv6 next header: no next header. */
export const IPPROTO_NONE = 59;
/** IPv6 next header: destination options. */
export const IPPROTO_DSTOPTS = 60;

/** Length of an IPv6 fragment header. */
export const IPV6_FRAGMENT_HEADER_LENGTH = 8;
/** Mask of the fragment offset (in 8-byte units, shifted left by 3) in the IPv6 fragment header. */
export const IPV6_FRAGMENT_OFFSET_MASK = 0xfff8;
/** "More fragments" bit of the IPv6 fragment header's offset word. */
export const IPV6_FLAG_MORE_FRAGMENTS = 0x0001;

// ---- Transport --------------------------------------------------------------------------------

/** Length of a TCP header without options. */
export const TCP_HEADER_LENGTH = 20;
/** Largest TCP header (data offset 15). */
export const TCP_MAX_HEADER_LENGTH = 60;
/** Length of the UDP header. */
export const UDP_HEADER_LENGTH = 8;
/** Length of the ICMP and ICMPv6 header: type, code, checksum, four message-specific bytes. */
export const ICMP_HEADER_LENGTH = 8;

/** TCP flag FIN. */
export const TCP_FIN = 0x01;
/** TCP flag SYN. */
export const TCP_SYN = 0x02;
/** TCP flag RST. */
export const TCP_RST = 0x04;
/** TCP flag PSH. */
export const TCP_PSH = 0x08;
/** TCP flag ACK. */
export const TCP_ACK = 0x10;
/** TCP flag URG. */
export const TCP_URG = 0x20;
/** TCP flag ECE. */
export const TCP_ECE = 0x40;
/** TCP flag CWR. */
export const TCP_CWR = 0x80;

// ---- Implementation limits --------------------------------------------------------------------

/**
 * Most VLAN tags the decoder walks before it gives up with `"bad-link"` (real networks stack two).
 * Bounds the work an attacker can ask for per frame.
 */
export const MAX_VLAN_TAGS = 8;
/**
 * Most IPv6 extension headers the decoder walks before it gives up with `"bad-ip"` (RFC 8200
 * expects at most one of each, about six). Bounds the work an attacker can ask for per packet.
 */
export const MAX_IPV6_EXTENSION_HEADERS = 12;
/** Hop limit / TTL of encoded packets unless the caller gives one. */
export const DEFAULT_TTL = 64;
/** TCP window of encoded segments unless the caller gives one (Linux's initial SYN window). */
export const DEFAULT_TCP_WINDOW = 64240;
