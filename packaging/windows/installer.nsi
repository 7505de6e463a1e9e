; The Windows setup .exe: a per-user install (no administrator rights) with a Start-menu
; shortcut, an entry in Settings > Apps, and "Open with xgen-desk" for the document types of
; packaging/Packager.toml. Built by scripts/package-nsis.sh, which reads Packager.toml and
; passes its values as /D defines and an include of generated macros (XGEN_INCLUDE): name,
; version, publisher, icon, binary, and one XGEN_ASSOCIATE call per file extension.
;
; cargo-packager's own NSIS format is not used: on a host other than Windows it downloads two
; plugins (ApplicationID, nsis_tauri_utils) from GitHub at packaging time, which an offline
; build machine cannot reach, so Linux could never build or prove that installer. This script
; needs only the plugins that ship with NSIS itself (Debian's nsis package has them), and the
; same script makes CI's Windows installer.
;
; Silent use: `setup.exe /S` installs for the current user into
; %LOCALAPPDATA%\Programs\xgen-desk (`/D=DIR`, last on the command line, picks another folder);
; `uninstall.exe /S` removes it. Uninstalling removes exactly what was installed: the two
; executables, llama.cpp's DLLs and the CPU modules beside the program (XGEN_LIBRARIES, from
; xgen-desk-libs.txt), the shortcut, the Settings entry and the registry keys this installer created.
; The user's data (conversations, settings, models, the download cache) is never touched: it
; lives in other folders (%APPDATA%\xgen-desk, %LOCALAPPDATA%\xgen-desk), which is also why the
; program does not go to %LOCALAPPDATA%\xgen-desk, where the app keeps its models.

Unicode true
; A 64-bit installer where this NSIS has the 64-bit stubs (Debian's does; the program is x64
; only, and Wine without its 32-bit half runs only 64-bit programs), else the 32-bit one (the
; official NSIS for Windows ships only those), which 64-bit Windows runs alike: per-user
; folders and HKCU keys are the same for both.
!if /FileExists "${NSISDIR}\Stubs\lzma_solid-amd64-unicode"
  Target amd64-unicode
!endif
ManifestDPIAware true
RequestExecutionLevel user
SetCompressor /SOLID lzma

!include MUI2.nsh
!include LogicLib.nsh
!include "${XGEN_INCLUDE}"

!define UNINSTALL_KEY "Software\Microsoft\Windows\CurrentVersion\Uninstall\${PRODUCT_NAME}"
!define EXE "${BINARY_NAME}.exe"

Name "${PRODUCT_NAME}"
OutFile "${OUT_FILE}"
InstallDir "$LOCALAPPDATA\Programs\${PRODUCT_NAME}"
InstallDirRegKey HKCU "${UNINSTALL_KEY}" "InstallLocation"
BrandingText "${PRODUCT_NAME} ${VERSION}"

VIProductVersion "${VERSION_FOUR}"
VIFileVersion "${VERSION_FOUR}"
VIAddVersionKey "ProductName" "${PRODUCT_NAME}"
VIAddVersionKey "ProductVersion" "${VERSION}"
VIAddVersionKey "FileVersion" "${VERSION}"
VIAddVersionKey "FileDescription" "${PRODUCT_NAME} setup"
VIAddVersionKey "CompanyName" "${PUBLISHER}"
VIAddVersionKey "LegalCopyright" "${COPYRIGHT}"

!define MUI_ICON "${ICON}"
!define MUI_UNICON "${ICON}"
!define MUI_ABORTWARNING
!define MUI_FINISHPAGE_RUN "$INSTDIR\${EXE}"
!insertmacro MUI_PAGE_DIRECTORY
!insertmacro MUI_PAGE_INSTFILES
!insertmacro MUI_PAGE_FINISH
!insertmacro MUI_UNPAGE_CONFIRM
!insertmacro MUI_UNPAGE_INSTFILES
!insertmacro MUI_LANGUAGE "English"

; One document type: the extension lists the app under "Open with" (OpenWithProgids) and a
; class of the app's own says how to open it. The extension's default program stays the
; user's: the app is a viewer of these files, not their owner.
!macro XGEN_ASSOCIATE EXT DESCRIPTION MIME
  WriteRegStr HKCU "Software\Classes\.${EXT}\OpenWithProgids" "${PRODUCT_NAME}.${EXT}" ""
  WriteRegStr HKCU "Software\Classes\${PRODUCT_NAME}.${EXT}" "" "${DESCRIPTION}"
  WriteRegStr HKCU "Software\Classes\${PRODUCT_NAME}.${EXT}" "Content Type" "${MIME}"
  WriteRegStr HKCU "Software\Classes\${PRODUCT_NAME}.${EXT}\DefaultIcon" "" "$\"$INSTDIR\${EXE}$\",0"
  WriteRegStr HKCU "Software\Classes\${PRODUCT_NAME}.${EXT}\shell\open" "" "Open with ${PRODUCT_NAME}"
  WriteRegStr HKCU "Software\Classes\${PRODUCT_NAME}.${EXT}\shell\open\command" "" "$\"$INSTDIR\${EXE}$\" $\"%1$\""
  WriteRegStr HKCU "Software\Classes\Applications\${EXE}\SupportedTypes" ".${EXT}" ""
!macroend

; One DLL of xgen-desk-libs.txt (llama.cpp's libraries, the CPU modules), beside the program:
; Windows looks for a program's DLLs in its folder first, and xgen-desk loads its CPU module from
; there by full path (docs/cpu.md).
!macro XGEN_INSTALL_LIBRARY NAME SOURCE
  File "/oname=${NAME}" "${SOURCE}"
!macroend

!macro XGEN_REMOVE_LIBRARY NAME SOURCE
  Delete "$INSTDIR\${NAME}"
!macroend

; Undoes XGEN_ASSOCIATE: the app's class, its name under the extension, and the extension's
; keys when nothing else is left in them (keys another program wrote stay).
!macro XGEN_UNASSOCIATE EXT DESCRIPTION MIME
  DeleteRegKey HKCU "Software\Classes\${PRODUCT_NAME}.${EXT}"
  DeleteRegValue HKCU "Software\Classes\.${EXT}\OpenWithProgids" "${PRODUCT_NAME}.${EXT}"
  DeleteRegKey /ifempty HKCU "Software\Classes\.${EXT}\OpenWithProgids"
  DeleteRegKey /ifempty HKCU "Software\Classes\.${EXT}"
!macroend

Section "Install"
  SetShellVarContext current
  SetOutPath "$INSTDIR"
  File "/oname=${EXE}" "${BINARY}"
  !insertmacro XGEN_LIBRARIES XGEN_INSTALL_LIBRARY
  WriteUninstaller "$INSTDIR\uninstall.exe"
  CreateShortcut "$SMPROGRAMS\${PRODUCT_NAME}.lnk" "$INSTDIR\${EXE}" "" "$INSTDIR\${EXE}" 0 \
    SW_SHOWNORMAL "" "${DESCRIPTION}"

  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayName" "${PRODUCT_NAME}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayVersion" "${VERSION}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "DisplayIcon" "$\"$INSTDIR\${EXE}$\",0"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "Publisher" "${PUBLISHER}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "URLInfoAbout" "${HOMEPAGE}"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "InstallLocation" "$INSTDIR"
  WriteRegStr HKCU "${UNINSTALL_KEY}" "UninstallString" "$\"$INSTDIR\uninstall.exe$\""
  WriteRegStr HKCU "${UNINSTALL_KEY}" "QuietUninstallString" "$\"$INSTDIR\uninstall.exe$\" /S"
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoModify" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "NoRepair" 1
  WriteRegDWORD HKCU "${UNINSTALL_KEY}" "EstimatedSize" ${ESTIMATED_KIB}

  WriteRegStr HKCU "Software\Classes\Applications\${EXE}" "FriendlyAppName" "${PRODUCT_NAME}"
  WriteRegStr HKCU "Software\Classes\Applications\${EXE}\shell\open\command" "" "$\"$INSTDIR\${EXE}$\" $\"%1$\""
  !insertmacro XGEN_ASSOCIATIONS XGEN_ASSOCIATE
  ; SHCNE_ASSOCCHANGED: Explorer reads the associations again.
  System::Call "shell32::SHChangeNotify(i 0x08000000, i 0, p 0, p 0)"
SectionEnd

Section "Uninstall"
  SetShellVarContext current
  Delete "$INSTDIR\${EXE}"
  !insertmacro XGEN_LIBRARIES XGEN_REMOVE_LIBRARY
  Delete "$INSTDIR\uninstall.exe"
  ; Not /r: a folder the user chose for the program may hold other files, which stay.
  RMDir "$INSTDIR"
  Delete "$SMPROGRAMS\${PRODUCT_NAME}.lnk"

  !insertmacro XGEN_ASSOCIATIONS XGEN_UNASSOCIATE
  DeleteRegKey HKCU "Software\Classes\Applications\${EXE}"
  DeleteRegKey /ifempty HKCU "Software\Classes\Applications"
  DeleteRegKey HKCU "${UNINSTALL_KEY}"
  System::Call "shell32::SHChangeNotify(i 0x08000000, i 0, p 0, p 0)"
SectionEnd
