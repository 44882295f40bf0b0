"""Convex hulls of the six placeholder primitives, measured once from the meshes the Blender
renderer builds (`renderer/blender/objects.py`; a test rebuilds them and checks they agree)."""

PLACEHOLDER_HULLS = {
    "cone": (
        "iBMAAHjsAACIE3jsAAAAAIgTeOwAAHjsAAB47HjsCxKH+HjsIu3y+njsxAnqEHjsDgUi7XjsgfDkC3jsXRONAnjsHPSB8Hjs"
        "0A0w8njsfw/kC3jsc/2j7HjsHPR/D3js3hLy+njsFu889njsDgXeEnjseQf17Xjs9e15B3jsCxJ5B3jsPPYW73js8vreEnjs"
        "6hA89njso+xz/Xjs5At/D3jsjQKj7HjsMPLQDXjsMPIw8njsjQJdE3js5AuB8Hjso+yNAnjs6hDECXjs8voi7XjsPPbqEHjs"
        "9e2H+HjseQcLEnjsFu/ECXjs3hIOBXjsc/1dE3jsfw8c9Hjs0A3QDXjs"
    ),
    "cube": (
        "iBN47HjseOyIE3jseOx47IgTeOx47HjsiBN47IgTeOyIE4gTiBOIE4gTiBOIE3js"
    ),
    "cylinder": (
        "iBMAAHjsAACIE3jsAACIE4gTeOwAAHjsAAB47HjseQf17YgTFu/ECYgT3hIOBYgTPPYW74gTc/1dE4gTfw8c9IgTo+xz/YgT"
        "0A3QDYgTAAB47IgTMPLQDYgTXRNz/YgTgfAc9IgTjQJdE4gTxAkW74gTIu0OBYgT6hDECYgTh/j17YgTh/gLEogTCxKH+IgT"
        "Iu3y+ogTxAnqEIgTDgUi7YgTgfDkC4gTXRONAogTHPSB8IgT0A0w8ogTeOwAAIgTfw/kC4gTc/2j7IgTHPR/D4gT3hLy+ogT"
        "Fu889njsDgXeEnjseQf17Xjs9e15B3jsCxJ5B3jsPPYW73js8vreEnjs6hA89njso+xz/Xjs5At/D3jsjQKj7HjsMPLQDXjs"
        "MPIw8njsjQJdE3js5AuB8Hjso+yNAnjs6hDECXjs8voi7XjsPPbqEHjsCxKH+Hjs9e2H+HjseQcLEnjsDgUi7XjsFu/ECXjs"
        "3hIOBXjsHPSB8Hjsc/1dE3jsfw8c9Hjs0A3QDXjs"
    ),
    "monkey": (
        "iBMlBz4EAAAqDAkIAAAeARAOeOwlBz4E5wLW89EIAAC+9/Dxh/kBAUgNeQYBAUgNbfuC9dMKAADQB9YMkwSC9dMKXu4HBkEH"
        "2xHQB7IGJe7QB7IGohEHBkEHufOF9yMGifsP9CcJRwyF9yMGsewHBpMEdwQP9CcJGf3W89EITxMHBpMEwBKXB8gA0gmf9eoF"
        "Lvaf9eoFQO2XB8gArQHY9Q/0wfpp+EfzAADVCwEBWQP29vHyp/z29vHysASG+H/yUPuG+H/yUPtP+vHy"
    ),
    "sphere": (
        "iBMAAAAAAACIEwAAAAAAAIgTeOwAAAAAAAB47AAAAAAAAHjs+gCl/V0Tn/uHAt4SOAfvAQsSHvuL9+oQuv6vCeoQbwnD+H8P"
        "NvRz/n8PaAhoCH8PAAAw8tANPPbECdANsQ0z/tANtfOR9uQLBgJdD+QLvweV8uQLqe9hBMQJpg51CMQJh/lf8MQJh/mhD8QJ"
        "rBAY+XkHku5U+3kHBgmhD3kHrASS7nkHCPF8Cw4FtBJ2Ag4FhPQI8Q4FAADeEg4FsQ1P8o0Co+wAAI0CXQ/KC40Cef3N7I0C"
        "HPR/DwAA3hLy+gAAFu889gAADgXeEgAAaQcc7nP9HO5pB3P95BFpB3P9UfY773P9Hvs5EvL6VxCR9vL6TO2K/fL6fAv4DvL6"
        "WwIc7of4PvPCDIf4CxIAAIf4PvM+84f4NQLFEDz2TAqV8jz2O+81Ajz2pg51CDz2/fsI8Rz0QfhrDRz0UQ4S+hz0PvO3+jDy"
        "SQXCDDDykwOp8jDytPXyBYHwfAsUA4Hww/iR9oHwuv6vCRbvvwcO+hbvh/gAAPXtkwOTAyLtAABz/aPs"
    ),
    "torus": (
        "iBMAAAAAAACIEwAAoA8AAOgDeOwAAAAAAAB47AAAoA8AABj8+wWQ8egDx/DKCGID+xCNBGIDNvfH8GIDtf1uEWID8g1N9WID"
        "ku61/WIDbgxuDGIDAABs7mIDj/JxDfQB2BKF/fQB7PBu9PQBewLYEvQBgQmK7/QBpO3rBPQBdhCBCfQBuvhw7vQBuviQEfQB"
        "kBG6+PQBpO0V+/QBgQl2EPQB6wSk7fQB7PCSC/QB2BJ7AvQBHPSB8AAA0A0w8gAAfw/kCwAAc/2j7AAAHPR/DwAA3hLy+gAA"
        "Fu889gAADgXeEgAAeQf17QAA9e15BwAACxJ5BwAAPPYW7wAA8vreEgAA6hA89gAAKO2F/Qz+kgsUDwz+ewIo7Qz+j/JxDQz+"
        "AhMAAAz+j/KP8gz+ewLYEgz+kgvs8Az+KO17Agz+dhCBCQz+Ffuk7Qz+f/Z2EAz+kBG6+Az+cO66+Az+RgeQEQz+jQQF7578"
        "x/DKCJ78+xCNBJ78TfUO8p78tf1uEZ788g1N9Z78bO4AAJ78bgxuDJ78AABg8Bj8"
    ),
}
